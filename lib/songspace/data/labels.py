"""Label values as a researcher means them: one class per value however a library spells it.

Real libraries spell one genre or artist several ways: "Rock" on one album, "rock " on another, "ROCK" in a
manifest typed by hand; and tag editors fill empty fields with placeholders ("Unknown Artist", ID3v1's
genre 12, "Other"). Scored as they are, one genre becomes three classes and "Unknown Artist" the largest
artist. ``tidy`` trims and collapses white space, makes every case variant of a value the collection's
most common spelling, and empties a tag's placeholder. A manifest's values keep their words: a placeholder
word there may be a class its author defined.
"""
from __future__ import annotations

import pandas as pd

# Placeholders tag editors and players write into empty fields (iTunes, Windows Media Player, ID3v1's
# "Other" and "Unknown" genres): no class. Compared case-folded.
PLACEHOLDERS = frozenset({"unknown", "unknown artist", "unknown album", "unknown genre", "<unknown>", "other",
                          "none", "n/a", "-", "?"})


def tidy(df: pd.DataFrame, columns) -> pd.DataFrame:
    """``df`` with each of ``columns`` tidied (``tidy_values``); a ``<column>_source`` column, where there
    is one, says which values came from tags (placeholders emptied) and is emptied with them."""
    df = df.copy()
    for col in columns:
        source = df.get(f"{col}_source")
        from_tag = source.eq("tag").fillna(False).astype(bool) if source is not None else None
        values = tidy_values(df[col], placeholders=from_tag)
        if source is not None:
            df[f"{col}_source"] = source.where(values.notna(), None)
        df[col] = values
    return df


def tidy_values(values: pd.Series, placeholders: pd.Series | None = None) -> pd.Series:
    """One spelling per value.

    Parameters
    ----------
    values : pd.Series of str (or missing).
    placeholders : pd.Series of bool, optional
        Rows whose value is emptied when it is one of ``PLACEHOLDERS`` (the values from tags).

    Returns
    -------
    pd.Series (str dtype): white space trimmed and collapsed, blank cells missing, and every value spelled
    as the most common of its case variants (ties: the first in sorted order).
    """
    text = values.astype(object).where(values.notna(), None)
    text = text.map(lambda v: " ".join(str(v).split()) or None if v is not None else None)
    if placeholders is not None:
        text = text.where(~(placeholders & text.fillna("").str.casefold().isin(PLACEHOLDERS)), None)
    return most_common_spelling(text, str.casefold).astype("str")


def most_common_spelling(values: pd.Series, key) -> pd.Series:
    """``values`` with each group of values of one ``key(value)`` written as the group's most common value
    (ties: the first in sorted order); missing values stay missing."""
    present = values.dropna().astype(str)
    if present.empty:
        return values
    keys = present.map(key)
    counts = present.groupby(keys).value_counts()
    best = {k: sorted(group.droplevel(0).items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            for k, group in counts.groupby(level=0)}
    return values.where(values.isna(), keys.map(best))
