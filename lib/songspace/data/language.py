"""A song's language read from its lyrics, for collections whose files carry no language tag.

Real libraries almost never tag a language, so without this a library of lyrics in several languages
has no ``language`` column: no CVAE condition and no word on whether its lyrics embeddings sort songs by
language. ``fill_from_lyrics`` reads the language of each song's lyrics with py3langid (langid.py's naive
Bayes model over byte n-grams, 140 classes; the model ships inside the wheel, nothing downloads) when no
song of the collection names a language, and marks each value ``language_source = detected``.

A detected language is never a label to score clusters against (``collection.detect_label_columns``
skips it): it comes from the lyrics, so every representation that reads the lyrics would match it by
construction. It conditions the CVAE and feeds 01's per-language check; ``LABELS=language`` scores it
on request. A collection where any song names a language (a manifest column, a tag) keeps its own values:
mixing detected codes with a tag's "eng" or "English" would split one language into classes.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pandas as pd

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


def named(values: pd.Series) -> pd.Series:
    """Which cells of a ``language`` column name a language (not empty, not "und", "zxx", "mul" ...)."""
    return values.notna() & ~values.astype(object).fillna("").astype(str).str.strip().str.lower().isin(NO_LANGUAGE)


def fill_from_lyrics(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``language`` read from ``lyrics`` when no row names a language.

    Parameters
    ----------
    df : tracks table with ``language``, ``lyrics`` and ``has_lyrics`` columns.

    Returns
    -------
    pd.DataFrame: the table with values that name no language ("und", "XXX") emptied; as it is otherwise when
    any row names a language (``named``) or fewer than ``MIN_SONGS_PER_LANGUAGE`` rows have lyrics; else a
    copy whose ``language`` is ``detect``'s code for each song with lyrics (None where it could not tell,
    where no other song has that language, or where the song has no lyrics) and whose ``language_source``
    is ``detected`` where a code was set.
    """
    given = named(df["language"])
    if not given.all() and df["language"].notna().any():  # "und", "XXX": a tag that names no language is none
        df = df.copy()
        df["language"] = df["language"].where(given, None)
        if "language_source" in df:
            df["language_source"] = df["language_source"].where(given, None)
    # One song alone cannot pass MIN_SONGS_PER_LANGUAGE (a single file given to `songspace assign`).
    if given.any() or df["has_lyrics"].sum() < MIN_SONGS_PER_LANGUAGE:
        return df
    df = df.copy()
    codes = pd.Series(detect(list(df["lyrics"].where(df["has_lyrics"], None))), index=df.index, dtype=object)
    counts = codes.value_counts()
    codes = codes.where(codes.map(counts).fillna(0) >= MIN_SONGS_PER_LANGUAGE, None)
    df["language"] = codes.astype("str")
    df["language_source"] = pd.Series("detected", index=df.index).where(codes.notna()).astype("str")
    return df


def describe(tracks: pd.DataFrame) -> str:
    """One sentence on where ``language`` came from when it was read from the lyrics (``fill_from_lyrics``),
    or when some songs name one and others with lyrics do not; "" otherwise."""
    lyrics = tracks["has_lyrics"].astype(bool)
    source = tracks["language_source"] if "language_source" in tracks else pd.Series(None, index=tracks.index)
    detected = source.eq("detected").fillna(False).astype(bool)
    missing = int((lyrics & ~named(tracks["language"])).sum())
    if not detected.any():
        if named(tracks["language"]).any() and missing:
            return (f"{missing} song(s) with lyrics name no language while others do, so no language was read "
                    "from lyrics: those songs have none.")
        if missing >= MIN_SONGS_PER_LANGUAGE:
            return (f"No file names a language, and none could be read from the lyrics of the {missing} songs that have "
                    "them (too short, too unclear, or each language in one song only).")
        return ""
    values = tracks.loc[detected, "language"].astype(str)
    counts = ", ".join(f"{code} {n}" for code, n in values.value_counts().items())
    what = (f"{len(values)} song(s) in {values.nunique()} languages ({counts})" if values.nunique() > 1
            else f"all {len(values)} in one language ({values.iloc[0]}), so there is no language to condition on")
    return (f"No file names a language, so `language` was read from each song's lyrics (py3langid): {what}"
            + (f"; {missing} song(s) with lyrics too short, too unclear or alone in their language to tell" if missing else "")
            + ". It comes from the lyrics, so every representation that reads the lyrics matches it by construction: "
            + ("it is scored because the labels named it, as agreement with the lyrics, not as evidence."
               if "language" in tracks.attrs.get("label_columns", []) else "it is not scored as a label."))
