"""Collections in, one tracks table out: JamendoLyrics, a manifest, or a plain folder; and the interim files.

Three layouts load into the same table:

- JamendoLyrics as published upstream: ``JamendoLyrics.csv`` (URL, Filepath, Artist, Title, Genre,
  LicenseType, Language, LyricOverlap, Polyphonic, NonLexical), audio ``mp3/<Filepath>``, lyrics
  ``lyrics/<Filepath stem>.txt``. Not every copy ships the mp3s.
- A manifest CSV: ``track_id`` and ``audio_path`` and/or ``lyrics_path`` (or inline ``lyrics``), plus
  any label columns. Paths are relative to the CSV; an empty cell means the modality is absent.
- A plain folder (no manifest): every audio file found recursively (``collection.scan_folder``).

A collection is only read, never written. A path that resolves outside the collection's folder is a
validation row and is never opened, unless the caller allows it (``allow_outside``).
``songspace.data.validation`` checks the loaded table; ``write_interim`` / ``read_tracks`` / ``read_report``
keep the validated table and its report between the stages. Copying JamendoLyrics is ``songspace.data.fetch``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from songspace.cache import atomic_to_csv, atomic_to_parquet, remove_stale_temps
from songspace.data.collection import (
    AUDIO_SUFFIXES,
    NOT_LABELS,
    detect_label_columns,
    is_utf8,
    nfc,
    printable,
    scan_folder,
    sidecars,
)
from songspace.data import labels, language, manifest, metadata
from songspace.data.metadata import read_lyrics_file
from songspace.data.manifest import inside
from songspace.features.saved import read_failures, read_notes

JAMENDO_CSV = "JamendoLyrics.csv"
MANIFEST_CSV = "manifest.csv"
BASE_COLUMNS = ["track_id", "artist", "title", "language", "genre", "audio_path", "lyrics", "has_audio", "has_lyrics"]
REPORT_COLUMNS = ["track_id", "modality", "problem", "detail", "path", "kept"]
# JamendoLyrics columns -> ours; the ones past `genre` are kept as extra labels.
_JAMENDO_RENAME = {"Artist": "artist", "Title": "title", "Language": "language", "Genre": "genre",
                   "LicenseType": "license", "LyricOverlap": "lyric_overlap", "Polyphonic": "polyphonic",
                   "NonLexical": "non_lexical", "URL": "url"}


class DatasetError(Exception):
    """A dataset cannot be used; the message names the file (and column) and what is wrong."""


# ---------------------------------------------------------------- loading

def read_manifest(path: Path) -> pd.DataFrame:
    """A manifest's usable rows as strings (``manifest.read_manifest``); its left-out lines are in
    ``df.attrs["load_problems"]``. Raises ``DatasetError`` when the file as a whole cannot be read."""
    try:
        df, problems = manifest.read_manifest(path)
    except manifest.ManifestError as e:
        raise DatasetError(str(e)) from None
    df.attrs["load_problems"] = problems
    return df


def _may_be_label(col: str, values: pd.Series) -> bool:
    """A text column ``detect_label_columns`` may take (``language`` has its own tidying)."""
    text = pd.api.types.is_string_dtype(values) or values.dtype == object
    return (text and col.lower() not in NOT_LABELS and col != "language" and not col.startswith("_")
            and not col.endswith("_source"))


def _finish(df: pd.DataFrame, source: Path, root: Path, layout: str, allow_outside: bool,
            label_columns=None, explicit_labels: bool | None = None) -> pd.DataFrame:
    """The loaded rows as one tracks table (tags applied, base columns, label columns); ``explicit_labels``
    (default: ``label_columns`` given) says the user named the labels, so validation keeps them as named."""
    explicit_labels = label_columns is not None if explicit_labels is None else explicit_labels
    problems = list(df.attrs.get("load_problems", []))
    if layout != "jamendolyrics":  # JamendoLyrics.csv is its metadata; elsewhere tags fill what is missing
        df, tag_problems = metadata.apply_tags(df, layout, None if allow_outside else root)
        problems += tag_problems
    for c in ["artist", "title", "language", "genre"]:
        if c not in df.columns:
            df[c] = pd.Series(None, index=df.index, dtype="str")
    if "audio_path" not in df.columns:
        df["audio_path"] = pd.Series(None, index=df.index, dtype="str")
    if "lyrics" not in df.columns:
        df["lyrics"] = pd.Series(None, index=df.index, dtype="str")
    scope = None if allow_outside else root
    if "lyrics_path" in df.columns:
        inline = df["lyrics"]
        df["lyrics"] = [read_lyrics_file(p, scope) if isinstance(p, str) else (t if isinstance(t, str) else None)
                        for p, t in zip(df["lyrics_path"], inline)]
    lyr = df["lyrics"]
    df["has_lyrics"] = lyr.notna() & lyr.fillna("").astype(str).str.strip().ne("")
    df = labels.tidy(df, [c for c in df.columns if _may_be_label(c, df[c])])  # "Rock", "rock ": one class
    df = language.fill_from_lyrics(df)  # no song tagged with a language: read it from the lyrics
    df["has_audio"] = df["audio_path"].map(
        lambda p: isinstance(p, str) and (scope is None or inside(p, scope)) and os.path.isfile(p)).astype(bool)
    df["display_name"] = metadata.display_names(df)
    lines = [int(v) for v in df["_line"]] if "_line" in df else None  # a manifest row's line, for its report rows
    extras = [c for c in df.columns if c not in BASE_COLUMNS and c != "_line"]
    df = df[BASE_COLUMNS + extras].reset_index(drop=True)
    found = detect_label_columns(df, label_columns)
    df.attrs = dict(label_columns=found, labels_explicit=explicit_labels, source=str(source), root=str(root),
                    layout=layout, allow_outside=bool(allow_outside), load_problems=problems, lines=lines)
    return df


def _load_jamendo(folder: Path, label_columns=None) -> pd.DataFrame:
    csv = folder / JAMENDO_CSV
    raw = read_manifest(csv)
    missing = [c for c in ["Filepath", "Artist", "Title", "Genre", "Language"] if c not in raw.columns]
    if missing:
        raise DatasetError(f"{csv}: missing column(s) {', '.join(missing)}")
    df = raw.rename(columns=_JAMENDO_RENAME)
    stems = raw["Filepath"].map(lambda f: Path(f).stem)
    df.insert(0, "track_id", stems)
    root = folder.resolve()
    df["audio_path"] = [str((root / "mp3" / f).resolve()) for f in raw["Filepath"]]
    df["lyrics_path"] = [str((root / "lyrics" / f"{s}.txt").resolve()) for s in stems]
    for c in ["lyric_overlap", "polyphonic", "non_lexical"]:
        if c in df:
            df[c] = df[c].str.lower().map({"true": True, "false": False}).astype("boolean")
    df = df.drop(columns=["Filepath"])
    # Licence and annotation flags describe the recordings' metadata, not musical groups: kept as
    # columns, scored only when named in ``label_columns``.
    labels = label_columns if label_columns is not None else \
        [c for c in detect_label_columns(df) if c in ("language", "genre", "artist")]
    return _finish(df, folder, root, "jamendolyrics", False, labels, explicit_labels=label_columns is not None)


def _resolver(base: Path):
    """Absolute paths of the scan's relative ones, exactly as named: a manifest cell's spaces are typing, a
    file name's are the name (" intro.mp3", "song.mp3 "). None for a link loop (the scan reported it)."""
    def resolve(p):
        try:
            return str((base / p).resolve()) if isinstance(p, str) else None
        except (OSError, RuntimeError):
            return None
    return resolve


def _resolve_columns(df: pd.DataFrame, csv: Path, root: Path) -> list[dict]:
    """Manifest path columns made absolute in place; a value that is no file path becomes a problem row."""
    problems = []
    for col, modality in (("audio_path", "audio"), ("lyrics_path", "lyrics")):
        if col not in df.columns:
            continue
        resolved = []
        for tid, line, value in zip(df["track_id"], df["_line"], df[col]):
            path, why = manifest.resolve_path(value, root)
            if why:
                problems.append(manifest.problem(int(line), tid, modality, "bad_path", f"{col} {why}", csv))
            resolved.append(path)
        df[col] = pd.Series(resolved, index=df.index, dtype="str")
    return problems


def _load_manifest(csv: Path, allow_outside: bool = False, label_columns=None) -> pd.DataFrame:
    raw = read_manifest(csv)
    if "track_id" not in raw.columns:
        hint = ""
        if len(raw.columns) == 2 and any(d in raw.columns[0] for d in ";\t|"):
            hint = " (the header is one field: is the file separated by something other than , ; tab or |?)"
        raise DatasetError(f"{csv}: missing required column 'track_id'; found columns "
                           f"{[c for c in raw.columns if c != '_line']}{hint}")
    if not {"audio_path", "lyrics_path", "lyrics"} & set(raw.columns):
        raise DatasetError(f"{csv}: needs a column 'audio_path' and/or 'lyrics_path' (or inline 'lyrics'); "
                           f"found columns {[c for c in raw.columns if c != '_line']}")
    problems = raw.attrs["load_problems"]
    if raw.empty and not problems:
        raise DatasetError(f"{csv}: has a header but no rows: no tracks to load")
    df, empty_ids = manifest.drop_empty_ids(raw, csv)
    problems = sorted(problems + empty_ids, key=lambda r: int(r["detail"].split(":")[0].split()[1]))  # by line
    if df.empty:
        lines = "; ".join(p["detail"] for p in problems[:5])
        raise DatasetError(f"{csv}: no usable row ({len(problems)} left out: {lines})")
    root = csv.parent.resolve()
    df = df.copy()
    problems += _resolve_columns(df, csv, root)
    df.attrs["load_problems"] = problems
    return _finish(df, csv, root, "manifest", allow_outside, label_columns)


def _load_folder(folder: Path, label_columns=None) -> pd.DataFrame:
    rows = scan_folder(folder)
    problems = rows.attrs.get("load_problems", [])
    if rows.empty:
        left = f"; left out: {'; '.join(p['path'] + ': ' + p['detail'] for p in problems[:3])}" if problems else ""
        raise DatasetError(f"{folder}: holds no {JAMENDO_CSV}, no {MANIFEST_CSV} and no audio files "
                           f"({', '.join(s.lstrip('.') for s in AUDIO_SUFFIXES)}) in any subfolder{left}")
    root = folder.resolve()
    resolve = _resolver(root)
    rows["audio_path"] = rows["audio_path"].map(resolve)
    rows["lyrics_path"] = rows["lyrics_path"].map(resolve)
    if rows["folder"].isna().all():
        rows = rows.drop(columns="folder")
    rows.attrs["load_problems"] = problems
    return _finish(rows, folder, root, "folder", False, label_columns)


def load_file(path: str | os.PathLike) -> pd.DataFrame:
    """One audio file as a one-song tracks table, named and tagged as a folder's song would be (its tags,
    a sibling ``.txt``/``.lrc`` of the same name); no label columns. Raises ``DatasetError`` for a file
    that is not of an audio type ``collection.AUDIO_SUFFIXES`` names."""
    p = Path(path).resolve()
    if not p.is_file() or p.suffix.lower() not in AUDIO_SUFFIXES:
        raise DatasetError(f"{path}: not an audio file ({', '.join(s.lstrip('.') for s in AUDIO_SUFFIXES)})")
    if not is_utf8(p):
        raise DatasetError(f"{printable(p)}: the file name is not valid UTF-8; rename it to read it")
    lyr = sidecars(os.listdir(p.parent)).get(nfc(p.stem))
    rows = pd.DataFrame([dict(track_id=nfc(p.stem), audio_path=str(p), lyrics_path=str(p.parent / lyr) if lyr else None,
                              title=nfc(p.stem))])
    return _finish(rows, p, p.parent, "folder", False, [])


def load_dataset(path: str | os.PathLike, allow_outside: bool = False, label_columns=None) -> pd.DataFrame:
    """Load a collection into one tracks table.

    Parameters
    ----------
    path : path
        A JamendoLyrics folder (holding ``JamendoLyrics.csv``), a folder holding ``manifest.csv``,
        a manifest CSV file, or any folder of audio files (scanned recursively).
    allow_outside : bool
        Let manifest paths point outside the manifest's folder. Default False: such a path becomes a
        validation row (``outside_collection``) and the file is never opened.
    label_columns : list of str, optional
        The columns to score clusters against; default: every label-like column
        (``collection.detect_label_columns``).

    Returns
    -------
    pd.DataFrame, one row per track (duplicates kept; ``validation.validate`` drops them), columns
    ``track_id, artist, title, language, genre, audio_path, lyrics, has_audio, has_lyrics`` plus extra
    label/info columns (``lyrics_path`` where lyrics come from files). ``audio_path`` is absolute or
    missing; ``has_audio`` says the file exists (it is decoded only by ``validation.validate``); ``has_lyrics``
    says non-blank UTF-8 text was read. ``df.attrs``: ``label_columns``, ``source``, ``root``, ``layout``,
    ``allow_outside``.

    Raises
    ------
    DatasetError
        The path is missing, the manifest is unreadable (empty, binary, not UTF-8, no rows, no
        ``track_id``), or a folder holds no audio; the message names the file.
    """
    p = Path(path)
    if p.is_dir():
        if (p / JAMENDO_CSV).is_file():
            return _load_jamendo(p, label_columns)
        if (p / MANIFEST_CSV).is_file():
            return _load_manifest(p / MANIFEST_CSV, allow_outside, label_columns)
        return _load_folder(p, label_columns)
    if p.is_file():
        if p.name == JAMENDO_CSV:
            return _load_jamendo(p.parent, label_columns)
        return _load_manifest(p, allow_outside, label_columns)
    raise DatasetError(f"{p}: no such collection folder or manifest file")


# ---------------------------------------------------------------- interim files

def write_interim(df: pd.DataFrame, report: pd.DataFrame, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``tracks.parquet`` and ``validation.csv`` atomically into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    return {"tracks": atomic_to_parquet(df, out / "tracks.parquet"),
            "validation": atomic_to_csv(report, out / "validation.csv")}


def read_tracks(interim_dir: str | os.PathLike, processed_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The tracks table written by ``write_interim`` (``attrs`` with ``label_columns`` restored).

    With ``processed_dir``, songs whose audio failed when 01 decoded it (``audio_failures.csv`` of
    ``extract.extract_audio``: damaged, silent, too short) have ``has_audio`` False, so every later
    stage counts and plans with the audio that really gave features.
    """
    p = Path(interim_dir) / "tracks.parquet"
    if not p.is_file():
        raise DatasetError(f"{p}: not found; run the data stage first (`make data` and notebook 00_data)")
    tracks = pd.read_parquet(p)
    failed = _audio_failures(processed_dir)
    if len(failed):
        tracks.loc[tracks["track_id"].astype(str).isin(failed["track_id"]), "has_audio"] = False
    return tracks


def _audio_failures(processed_dir) -> pd.DataFrame:
    if processed_dir is None:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    return read_failures(processed_dir).assign(kept=False)


def read_report(interim_dir: str | os.PathLike, processed_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The whole validation report: 00's checks (``validation.csv``) and, with ``processed_dir``, the
    audio problems found when 01 decoded each file (``audio_failures.csv``; ``audio_notes.csv``: audio
    used with a caveat, kept), in the same columns."""
    p = Path(interim_dir) / "validation.csv"
    if not p.is_file():
        raise DatasetError(f"{p}: not found; run the data stage first (`make data` and notebook 00_data)")
    report = pd.read_csv(p, dtype={"track_id": str})
    extra = _audio_failures(processed_dir)
    if processed_dir is not None:
        notes = read_notes(processed_dir).assign(kept=True)
        extra = pd.concat([extra, notes], ignore_index=True) if len(notes) else extra
    if len(extra):
        report = pd.concat([report, extra[REPORT_COLUMNS]], ignore_index=True)
    # 00 and 01 may both report one audio problem of a file (in different words): one row. A label problem
    # is one row per column (its detail names the column), so those rows differ by detail.
    key = report["detail"].where(report["modality"] == "label", "")
    return report[~report.assign(_key=key).duplicated(["track_id", "modality", "problem", "_key"])].reset_index(drop=True)
