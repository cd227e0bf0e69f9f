"""A song's language read from its lyrics, for collections whose files carry no language tag.

Real libraries almost never tag a language, so without this a library of lyrics in several languages
has no ``language`` column: no CVAE condition and no check of whether its lyrics clusters are language
clusters. ``fill_from_lyrics`` reads the language of each song's lyrics with py3langid (langid.py's
naive Bayes model over byte n-grams, 97 languages; the model ships inside the wheel, nothing downloads)
when no song of the collection has a language value, and marks each value ``language_source = detected``.

A collection where any song has a language (a manifest column, a tag) keeps those values as they are:
mixing detected ISO 639-1 codes with a tag's "eng" or "English" would split one language into classes.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import pandas as pd

MIN_LETTERS = 40   # fewer letters than this ("[Instrumental]", "la la la") is no evidence of a language
# The best language's share of the model's posterior. All 79 JamendoLyrics songs score 1.0 (and are right);
# 200 random 4-7-word Spanish lines 0.58 or more (right, Portuguese and Galician close); "la la la" 0.19.
MIN_PROBABILITY = 0.5


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(texts: Sequence[str | None]) -> list[str | None]:
    """The language of each text as an ISO 639-1 code ("en", "es", "ja" ...), or None.

    Parameters
    ----------
    texts : sequence of str or None
        Lyrics, one per song.

    Returns
    -------
    list of str or None, one per text: None for a missing text, one with fewer than ``MIN_LETTERS``
    letters, or one whose best language has a posterior below ``MIN_PROBABILITY``.
    """
    out = []
    for text in texts:
        if not isinstance(text, str) or sum(ch.isalpha() for ch in text) < MIN_LETTERS:
            out.append(None)
            continue
        code, probability = _identifier().classify(text)
        out.append(str(code) if probability >= MIN_PROBABILITY else None)
    return out


def fill_from_lyrics(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``language`` read from ``lyrics`` when no row has a language value.

    Parameters
    ----------
    df : tracks table with ``language``, ``lyrics`` and ``has_lyrics`` columns.

    Returns
    -------
    pd.DataFrame: the same table when any row has a language or no row has lyrics; else a copy whose
    ``language`` is ``detect``'s code for each song with lyrics (None where it could not tell or the song
    has no lyrics) and whose ``language_source`` is ``detected`` where a code was set.
    """
    language = df["language"].astype(object)
    tagged = language.notna() & language.astype(str).str.strip().ne("")
    if tagged.any() or not df["has_lyrics"].any():
        return df
    df = df.copy()
    texts = df["lyrics"].where(df["has_lyrics"], None)
    codes = pd.Series(detect(list(texts)), index=df.index, dtype=object)
    df["language"] = codes.astype("str")
    df["language_source"] = codes.map(lambda c: None if c is None else "detected").astype("str")
    return df


def describe(tracks: pd.DataFrame) -> str:
    """One sentence on a ``language`` column read from the lyrics (``fill_from_lyrics``); "" when the
    collection's languages came from its own columns or tags."""
    if "language_source" not in tracks or not (tracks["language_source"] == "detected").any():
        return ""
    detected = tracks.loc[tracks["language_source"] == "detected", "language"].astype(str)
    unclear = int((tracks["has_lyrics"].astype(bool) & tracks["language"].isna()).sum())
    counts = ", ".join(f"{code} {n}" for code, n in detected.value_counts().items())
    return (f"No file names a language, so `language` was read from each song's lyrics (py3langid): {len(detected)} "
            f"song(s) in {detected.nunique()} language(s) ({counts})"
            + (f"; {unclear} song(s) with lyrics too short or unclear to tell" if unclear else "")
            + ". It comes from the lyrics themselves, so lyrics clusters that match it are language clusters, "
            "not an independent check.")
