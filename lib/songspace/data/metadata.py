"""What a song is called and where each value came from: manifest > sidecar file > tag > file name.

``apply_tags`` fills the tracks table's metadata columns from each audio file's embedded tags
(``tags.read_tags``) wherever the manifest left a cell empty, and adds a ``<field>_source`` column per
field saying which of ``manifest``, ``sidecar``, ``tag`` or ``file name`` gave the value (``language.fill_from_lyrics``
later writes ``detected`` for a language read from the lyrics).
``display_name`` is how a song is shown everywhere: "artist – title" when both are known, else the
title, else the track_id.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from songspace.data import tags as tagmod
from songspace.data.collection import strip_lrc
from songspace.data.manifest import inside
from songspace.data.text import TextDecodeError, decode_text

# Fields with a provenance column; decade follows year.
SOURCE_FIELDS = ("title", "artist", "albumartist", "album", "genre", "year", "language", "lyrics")
DASH = " \u2013 "  # en dash with spaces: "artist – title"
MAX_LYRICS_BYTES = 256 * 1024  # a lyrics file larger than this is not song lyrics (10x the longest song)


def read_lyrics_file(path: str, scope=None) -> str | None:
    """A lyrics file's text (``text.decode_text``; LRC stamps stripped), or None when it is missing, no regular
    file (a directory, a named pipe: reading it would wait forever), oversized, outside ``scope`` or undecodable
    (``validation.validate`` says which)."""
    try:
        if (scope is not None and not inside(path, scope)) or not os.path.isfile(path) \
                or os.path.getsize(path) > MAX_LYRICS_BYTES:
            return None
        text = decode_text(Path(path).read_bytes())[0]
    except (OSError, TextDecodeError):
        return None
    return strip_lrc(text) if path.lower().endswith(".lrc") else text


def _unusable_files(df, lyrics_file: pd.Series, tag: pd.Series, scope) -> tuple[pd.Series, list[dict]]:
    """Rows whose lyrics file is blank or unreadable while the audio file's tag holds lyrics: the tag's are
    used instead (a kept report row each). Files outside ``scope`` are left for ``validate`` to report."""
    unusable = pd.Series(False, index=df.index)
    problems = []
    for i, p in lyrics_file[lyrics_file.notna() & tag.notna()].items():
        if scope is not None and not inside(p, scope):
            continue
        text = read_lyrics_file(p, scope)
        if text is None or not text.strip():
            unusable[i] = True
            why = "is blank" if text is not None else "cannot be read as lyrics (missing, oversized or undecodable)"
            problems.append(dict(track_id=str(df.at[i, "track_id"]), modality="lyrics", problem="lyrics_file_unused",
                                 detail=f"the lyrics file {why}: the lyrics embedded in the audio file are used",
                                 path=p, kept=True))
    return unusable, problems


def display_names(df: pd.DataFrame) -> pd.Series:
    """"artist – title" when both are known, else the title, else the track_id (str, one per row)."""
    def clean(col):
        if col not in df:
            return pd.Series([None] * len(df), index=df.index, dtype=object)
        s = df[col].astype(object)
        return s.where(s.notna() & s.astype(str).str.strip().ne(""), None)

    artist, title = clean("artist"), clean("title")
    out = [f"{a}{DASH}{t}" if a is not None and t is not None else t if t is not None else str(tid)
           for a, t, tid in zip(artist, title, df["track_id"])]
    return pd.Series(out, index=df.index, dtype="str")


def _decade(year) -> str | None:
    m = tagmod.YEAR.search(str(year)) if pd.notna(year) else None
    return f"{int(m.group(1)) // 10 * 10}s" if m else None


def _column(df, name, dtype=object):
    return df[name].astype(object) if name in df else pd.Series([None] * len(df), index=df.index, dtype=dtype)


def apply_tags(df: pd.DataFrame, layout: str, scope, n_jobs: int = 4) -> tuple[pd.DataFrame, list[dict]]:
    """Fill empty metadata cells from embedded tags; add ``<field>_source`` columns.

    Parameters
    ----------
    df : tracks rows with absolute ``audio_path`` (or None), optional ``lyrics_path``/``lyrics`` and
        manifest columns (a folder's ``title`` is its file name).
    layout : ``"manifest"`` or ``"folder"`` (a folder's title and lyrics file are file name and sidecar).
    scope : Path or None
        Tags are read only from files inside this folder (None: any path).

    Returns
    -------
    (df, problems) : the table with ``tags.TAG_FIELDS`` columns where any song has a value, and
    report rows: ``unreadable_tags`` (kept: the audio may still decode) for files whose tags fail to parse,
    ``lyrics_file_unused`` for a blank or unreadable lyrics file whose song's tag has lyrics (used instead;
    its ``lyrics_path`` is cleared).
    """
    paths = [p if isinstance(p, str) and (scope is None or inside(p, scope)) and os.path.isfile(p) else None
             for p in _column(df, "audio_path")]
    found = tagmod.read_all(paths, n_jobs=n_jobs)
    problems = [dict(track_id=str(tid), modality="audio", problem="unreadable_tags",
                     detail=f"tags not read ({t['tag_error']}); kept: only its metadata is missing", path=p, kept=True)
                for tid, p, t in zip(df["track_id"], paths, found) if "tag_error" in t]
    df = df.copy()
    lyrics_file = _column(df, "lyrics_path")
    for field in (*tagmod.TAG_FIELDS,):
        if field == "decade":
            continue
        have = _column(df, field)
        have = have.where(have.notna() & have.astype(str).str.strip().ne(""), None)
        tag = pd.Series([t.get(field) for t in found], index=df.index, dtype=object)
        if field == "lyrics":  # a usable lyrics file (sidecar or manifest path) or inline manifest lyrics wins
            unusable, lyric_problems = _unusable_files(df, lyrics_file.where(have.isna(), None), tag, scope)
            problems += lyric_problems
            if unusable.any():
                lyrics_file = lyrics_file.where(~unusable, None)
                df["lyrics_path"] = lyrics_file.astype("str")
            has_file = lyrics_file.notna()
            use_tag = have.isna() & ~has_file & tag.notna()
            given = "sidecar" if layout == "folder" else "manifest"
            source = pd.Series([given if f or h is not None else None for f, h in zip(has_file, have)],
                               index=df.index, dtype=object)
        elif layout == "folder" and field == "title":  # the file name is the last resort
            use_tag = tag.notna()
            given = "file name"
            source = have.map(lambda v: None if v is None else given)
        else:
            use_tag = have.isna() & tag.notna()
            given = "manifest"
            source = have.map(lambda v: None if v is None else given)
        if not use_tag.any() and field not in df:
            if field == "lyrics" and source.notna().any():  # lyrics files only: say so, the text is read later
                df["lyrics_source"] = source.astype("str")
            continue
        value = have.where(~use_tag, tag)
        source = source.where(~use_tag, "tag")
        if field in ("year", "track_number", "disc_number") and field not in df:  # tag ints
            value = pd.to_numeric(value, errors="coerce").astype("Int64")
        elif field != "lyrics":  # a manifest's cells stay as written (a year "unknown" is not lost)
            value = value.astype("str")
        df[field] = value if field != "lyrics" else value.where(value.notna(), None)
        if field in SOURCE_FIELDS and source.notna().any():
            df[f"{field}_source"] = source.astype("str")
    if "year" in df and "decade" not in df:
        df["decade"] = df["year"].map(_decade).astype("str")
    return df, problems


def provenance(df: pd.DataFrame) -> pd.DataFrame:
    """Where the tracks table's values came from: field x source counts (``manifest``, ``sidecar``,
    ``tag``, ``file name``, ``detected``: a language read from the lyrics, ``none``), one row per
    ``<field>_source`` column."""
    rows = []
    for field in SOURCE_FIELDS:
        col = f"{field}_source"
        if col in df:
            rows.append({"field": field, **df[col].astype(object).fillna("none").value_counts().to_dict()})
    out = pd.DataFrame(rows).fillna(0)
    order = [c for c in ("field", "manifest", "sidecar", "tag", "file name", "detected", "none") if c in out]
    return out[order].astype({c: int for c in order if c != "field"}) if len(out) else out


def label_summary(df: pd.DataFrame) -> pd.DataFrame:
    """The label columns 05 scores: classes, songs with a value, songs in the largest class, and where the
    values came from: the column's ``<label>_source`` counts when it has one, else the one place such a
    column can come from (the manifest's or JamendoLyrics.csv's own column, or the first-level folder names)."""
    own = {"manifest": "manifest", "jamendolyrics": "JamendoLyrics.csv", "folder": "folder name"}
    rows = []
    for col in df.attrs.get("label_columns", []):
        values = df[col].dropna().astype(str)
        src = f"{col}_source" if f"{col}_source" in df else ("year_source" if col == "decade" else None)
        if src is not None and src in df:
            sources = ", ".join(f"{k} {v}" for k, v in df[src].dropna().value_counts().items())
        else:
            where = "folder name" if col == "folder" else own.get(df.attrs.get("layout"), "")
            sources = f"{where} {len(values)}" if where else ""
        rows.append(dict(label=col, classes=values.nunique(), songs=len(values),
                         largest_class=int(values.value_counts().iloc[0]) if len(values) else 0, from_=sources))
    return pd.DataFrame(rows).rename(columns={"from_": "from"})
