"""A song's language read from its lyrics, for collections whose files carry no language tag.

Real libraries almost never tag a language, so without this a library of lyrics in several languages
has no ``language`` column: no CVAE condition and no word on whether its lyrics embeddings sort songs by
language. ``fill_from_lyrics`` reads the language of each song's lyrics with py3langid (langid.py's naive
Bayes model over byte n-grams, 140 classes; the model ships inside the wheel, nothing downloads) when the
collection's own values name fewer than two languages, and marks each value ``language_source = detected``.

A detected language is never a label to score clusters against (``collection.detect_label_columns``
skips it): it comes from the lyrics, so every representation that reads the lyrics would match it by
construction. It conditions the CVAE and feeds 01's per-language check; ``LABELS=language`` scores it
on request. A collection whose songs name two or more languages (a manifest column, tags) keeps its own
values, each language in one spelling ("eng", "English" and "en" are one class); where they name one, the
named values become codes like the detected ones, so one language is not split into "eng" and "en".
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pandas as pd

from songspace.data.labels import most_common_spelling

MIN_LETTERS = 40   # fewer letters than this ("[Instrumental]", one short line) is no evidence of a language
# Distinct three-letter runs inside words. Sung syllables ("doo doo ...", "ba da ba da bum") have at most 6 and
# the model still names a language for them with posteriors up to 0.98; JamendoLyrics' songs have 67 or more,
# their first two lines 14 or more at the 10th percentile.
MIN_TRIGRAMS = 15
# The best language's share of the model's posterior. All 79 JamendoLyrics songs score 1.0 (and are right);
# 200 random 4-7-word Spanish lines 0.58 or more (right, Portuguese and Galician close); "la la la" 0.19.
MIN_PROBABILITY = 0.5
MIN_SONGS_PER_LANGUAGE = 2  # a language read from one song alone is left empty: a misread is likelier than a lone language
# Tag values that name no language (ISO 639-2 special codes, iTunes' "XXX"): a tag of one of these is no tag.
NO_LANGUAGE = frozenset({"", "und", "zxx", "mul", "mis", "xxx"})
# py3langid's varieties folded into the language a listener would name (its other classes are kept as they are).
MACROLANGUAGE = {"arz": "ar", "ary": "ar", "yue": "zh", "wuu": "zh", "uzs": "uz", "gug": "gn", "sdh": "ku",
                 "fuv": "ff"}


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _evidence(text: str) -> bool:
    words = re.findall(r"[^\W\d_]+", text.lower())
    letters = "".join(words)
    if len(letters) < MIN_LETTERS:
        return False
    # Mostly letters of U+00C0-U+00FF: Cyrillic or Greek bytes read as Windows-1252 (text.FALLBACK), which the
    # model reads as Ligurian or Faroese. No language writes most of its letters there.
    if sum("\u00c0" <= ch <= "\u00ff" for ch in letters) > len(letters) / 2:
        return False
    return len({w[i:i + 3] for w in words for i in range(len(w) - 2)}) >= MIN_TRIGRAMS


def detect(texts: Sequence[str | None]) -> list[str | None]:
    """The language of each text as an ISO 639 code, or None.

    Parameters
    ----------
    texts : sequence of str or None
        Lyrics, one per song.

    Returns
    -------
    list of str or None, one per text: two letters where the language has them ("en", "es", "ja"), else
    py3langid's three ("kab", "pcm"); varieties folded (``MACROLANGUAGE``: "arz" is "ar"). None for a missing
    text, one with fewer than ``MIN_LETTERS`` letters or ``MIN_TRIGRAMS`` distinct letter trigrams (sung
    syllables), one the model finds without language ("zxx"), or one whose best language has a posterior
    below ``MIN_PROBABILITY``.
    """
    out = []
    for text in texts:
        if not isinstance(text, str) or not _evidence(text):
            out.append(None)
            continue
        code, probability = _identifier().classify(text)
        code = MACROLANGUAGE.get(code, code)
        out.append(str(code) if probability >= MIN_PROBABILITY and code != "zxx" else None)
    return out


def code_of(value) -> str | None:
    """The code ``detect`` would give the language a tag or manifest value names: "en" for "en", "EN", "eng",
    "English"; "de" for "ger", "deu", "German". None for a value that names no language babel knows."""
    code = _codes().get(str(value).strip().lower())
    return MACROLANGUAGE.get(code, code)


@lru_cache(maxsize=1)
def _codes() -> dict[str, str]:
    """Every spelling babel (CLDR) knows of a language -> its ISO 639-1 code (639-3 where it has none):
    the codes, the ISO 639-2 codes ("fre", "fra"), the English names."""
    from babel import Locale
    from babel.core import get_global

    names = {c: n for c, n in Locale("en").languages.items() if "_" not in c}  # "en": "English" ...
    table = {a.lower(): c for a, c in get_global("language_aliases").items() if c in names}  # "eng": "en"
    table.update({n.lower(): c for c, n in names.items()})
    table.update({c.lower(): c for c in names})  # a code is itself ("tl" stays "tl", though an alias of "fil")
    return table


def _spelling_key(value: str) -> str:
    return code_of(value) or str(value).strip().lower()


def one_spelling(values: pd.Series) -> pd.Series:
    """``values`` with every spelling of one language ("eng", "English", "en") replaced by the collection's
    most common one (ties: the first in sorted order); values that name no language are left as they are."""
    return most_common_spelling(values, _spelling_key).astype(values.dtype)


def named(values: pd.Series) -> pd.Series:
    """Which cells of a ``language`` column name a language (not empty, not "und", "zxx", "mul" ...)."""
    return values.notna() & ~values.astype(object).fillna("").astype(str).str.strip().str.lower().isin(NO_LANGUAGE)


def fill_from_lyrics(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``language`` read from ``lyrics`` where the collection's own values name fewer than two
    languages.

    Parameters
    ----------
    df : tracks table with ``language``, ``lyrics`` and ``has_lyrics`` columns.

    Returns
    -------
    pd.DataFrame: the table with values that name no language ("und", "XXX") emptied and each language in one
    spelling (``one_spelling``). Where the values name two or more languages, that is all: they are the
    collection's own label, and a song without one keeps none. Where they name one language or none (a
    library where one album carries a language tag), every song with lyrics and without a value gets
    ``detect``'s code (None where it could not tell or where no other song has that language), with
    ``language_source = detected``; the named values become codes too (``code_of``), so the two agree.
    """
    df = df.copy()
    given = named(df["language"])
    df["language"] = one_spelling(df["language"].where(given, None))  # "und", "XXX": a tag naming no language is none
    if "language_source" in df:
        df["language_source"] = df["language_source"].where(given, None)
    if df.loc[given, "language"].nunique() >= 2:
        return df
    # One song alone cannot pass MIN_SONGS_PER_LANGUAGE (a single file given to `songspace assign`).
    if (df["has_lyrics"] & ~given).sum() < MIN_SONGS_PER_LANGUAGE:
        return df
    own = df["language"].where(given, None).map(lambda v: code_of(v) or v if isinstance(v, str) else None)
    todo = df["has_lyrics"] & ~given
    read = pd.Series(detect(list(df["lyrics"].where(todo, None))), index=df.index, dtype=object)
    counts = own.combine_first(read).value_counts()
    read = read.where(read.map(counts).fillna(0) >= MIN_SONGS_PER_LANGUAGE, None)
    if read.isna().all():  # nothing read: the collection's values stay as it spells them
        return df
    df["language"] = own.combine_first(read).astype("str")
    source = df["language_source"] if "language_source" in df else pd.Series(None, index=df.index, dtype="str")
    df["language_source"] = source.where(given, pd.Series("detected", index=df.index).where(read.notna())).astype("str")
    return df


def describe(tracks: pd.DataFrame) -> str:
    """One sentence on where ``language`` came from when it was read from the lyrics (``fill_from_lyrics``),
    or when some songs name one and others with lyrics do not; "" otherwise."""
    lyrics = tracks["has_lyrics"].astype(bool)
    source = tracks["language_source"] if "language_source" in tracks else pd.Series(None, index=tracks.index)
    detected = source.eq("detected").fillna(False).astype(bool)
    missing = int((lyrics & ~named(tracks["language"])).sum())
    tagged = int((named(tracks["language"]) & ~detected).sum())
    if not detected.any():
        if tagged and missing and tracks.loc[named(tracks["language"]), "language"].nunique() >= 2:
            return (f"{missing} song(s) with lyrics name no language while others name two or more, so no "
                    "language was read from lyrics: those songs have none.")
        if tagged and missing:
            return (f"{missing} song(s) with lyrics name no language, and none could be read from their lyrics "
                    "(too short, too unclear, or each language in one song only).")
        if missing >= MIN_SONGS_PER_LANGUAGE:
            return (f"No file names a language, and none could be read from the lyrics of the {missing} songs that have "
                    "them (too short, too unclear, or each language in one song only).")
        return ""
    values = tracks.loc[detected, "language"].astype(str)
    counts = ", ".join(f"{code} {n}" for code, n in values.value_counts().items())
    what = (f"{len(values)} song(s) in {values.nunique()} languages ({counts})" if values.nunique() > 1
            else f"all {len(values)} in one language ({values.iloc[0]})")
    if tracks["language"].dropna().nunique() < 2:
        what += ", so there is no language to condition on"
    lead = ("No file names a language, so `language` was read from each song's lyrics (py3langid)" if not tagged
            else f"Only {tagged} song(s) name a language, all the same one, so `language` of the other songs was "
                 "read from their lyrics (py3langid)")
    return (f"{lead}: {what}"
            + (f"; {missing} song(s) with lyrics too short, too unclear or alone in their language to tell" if missing else "")
            + ". It comes from the lyrics, so every representation that reads the lyrics matches it by construction: "
            + ("it is scored because the labels named it, as agreement with the lyrics, not as evidence."
               if "language" in tracks.attrs.get("label_columns", []) else "it is not scored as a label."))
