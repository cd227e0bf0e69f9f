"""Collections in, one tracks table out: JamendoLyrics, a manifest, or a plain folder; loaded and validated.

Three layouts load into the same table:

- JamendoLyrics as published upstream: ``JamendoLyrics.csv`` (URL, Filepath, Artist, Title, Genre,
  LicenseType, Language, LyricOverlap, Polyphonic, NonLexical), audio ``mp3/<Filepath>``, lyrics
  ``lyrics/<Filepath stem>.txt``. Not every copy ships the mp3s.
- A manifest CSV: ``track_id`` and ``audio_path`` and/or ``lyrics_path`` (or inline ``lyrics``), plus
  any label columns. Paths are relative to the CSV; an empty cell means the modality is absent.
- A plain folder (no manifest): every audio file found recursively (``collection.scan_folder``).

A collection is only read, never written. A path that resolves outside the collection's folder is a
validation row and is never opened, unless the caller allows it (``allow_outside``).
``validate`` turns every problem of a track into a row of a report and goes on; only a collection
with no usable track at all is an error.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from songspace import audio
from songspace.collection import AUDIO_SUFFIXES, detect_label_columns, scan_folder, strip_lrc
from songspace.cache import atomic_open, atomic_to_csv, atomic_to_parquet, atomic_write_text, file_hash, remove_stale_temps
from songspace.features import read_failures

JAMENDO_CSV = "JamendoLyrics.csv"
MANIFEST_CSV = "manifest.csv"
BASE_COLUMNS = ["track_id", "artist", "title", "language", "genre", "audio_path", "lyrics", "has_audio", "has_lyrics"]
REPORT_COLUMNS = ["track_id", "modality", "problem", "detail", "path", "kept"]
NOT_IN_COPY = "audio not in this copy"  # JamendoLyrics copies may ship lyrics without mp3s: expected
SILENCE_DB = -60.0  # dBFS peak below which a file is silent; the same default as audio.AudioParams.silence_db
SILENCE_PEAK = 10 ** (SILENCE_DB / 20)
LOW_SAMPLE_RATE = 16000  # Hz; below this a file is kept with a note (telephone-band audio)
NEEDS_FFMPEG = audio.NEEDS_FFMPEG
FETCH_HELP = ("Set JAMENDO_SRC to a local JamendoLyrics folder or an http(s) URL holding one, e.g. "
              "`make data JAMENDO_SRC=/path/to/jamendolyrics`, or run `make demo` to use the synthetic dataset.")
# JamendoLyrics columns -> ours; the ones past `genre` are kept as extra labels.
_JAMENDO_RENAME = {"Artist": "artist", "Title": "title", "Language": "language", "Genre": "genre",
                   "LicenseType": "license", "LyricOverlap": "lyric_overlap", "Polyphonic": "polyphonic",
                   "NonLexical": "non_lexical", "URL": "url"}


class DatasetError(Exception):
    """A dataset cannot be used; the message names the file (and column) and what is wrong."""


# ---------------------------------------------------------------- loading

MAX_LYRICS_BYTES = 256 * 1024  # a lyrics file larger than this is not song lyrics (10x the longest song)


def _sniff_delimiter(header: str) -> str:
    """The field separator of a manifest's header line: ``,`` unless only ``;``, tab or ``|`` occur."""
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in (";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_csv(path: Path) -> pd.DataFrame:
    """A manifest as strings. Only an empty cell is missing: a genre called "NA" or "None" stays a string.

    Comma, semicolon, tab and ``|`` separators are recognised from the header line.
    """
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a directory, not a CSV file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror})") from e
    if not raw.strip():
        raise DatasetError(f"{path}: the file is empty (expected a CSV header such as 'track_id,audio_path')")
    if b"\0" in raw[:4096]:
        raise DatasetError(f"{path}: not a CSV text file (binary content)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); save the manifest as UTF-8") from e
    sep = _sniff_delimiter(text.splitlines()[0])
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise DatasetError(f"{path}: cannot read as CSV ({e})") from e
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _inside(path: str, root: Path) -> bool:
    """Whether ``path`` (already resolved) lies in the folder ``root`` (resolved)."""
    return Path(path).is_relative_to(root)


def _read_text(path: str, root: Path | None = None) -> str | None:
    """Lyrics text, or None when the file is missing, a directory, oversized, outside ``root`` or
    not UTF-8 (``validate`` says which)."""
    try:
        if (root is not None and not _inside(path, root)) or os.path.getsize(path) > MAX_LYRICS_BYTES:
            return None
        text = Path(path).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    return strip_lrc(text) if path.lower().endswith(".lrc") else text


def _finish(df: pd.DataFrame, source: Path, root: Path, layout: str, allow_outside: bool,
            label_columns=None) -> pd.DataFrame:
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
        df["lyrics"] = [_read_text(p, scope) if isinstance(p, str) else (t if isinstance(t, str) else None)
                        for p, t in zip(df["lyrics_path"], inline)]
    lyr = df["lyrics"]
    df["has_lyrics"] = lyr.notna() & lyr.fillna("").astype(str).str.strip().ne("")
    df["has_audio"] = df["audio_path"].map(
        lambda p: isinstance(p, str) and (scope is None or _inside(p, scope)) and os.path.isfile(p)).astype(bool)
    extras = [c for c in df.columns if c not in BASE_COLUMNS]
    df = df[BASE_COLUMNS + extras].reset_index(drop=True)
    labels = detect_label_columns(df, label_columns)
    df.attrs.update(label_columns=labels, source=str(source), root=str(root), layout=layout,
                    allow_outside=bool(allow_outside))
    return df


def _load_jamendo(folder: Path, label_columns=None) -> pd.DataFrame:
    csv = folder / JAMENDO_CSV
    raw = _read_csv(csv)
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
    return _finish(df, folder, root, "jamendolyrics", False, labels)


def _resolver(base: Path):
    def resolve(p):
        if not isinstance(p, str) or not p.strip():
            return None
        return str((base / p.strip()).resolve())  # an absolute p replaces base
    return resolve


def _load_manifest(csv: Path, allow_outside: bool = False, label_columns=None) -> pd.DataFrame:
    raw = _read_csv(csv)
    if "track_id" not in raw.columns:
        hint = ""
        if len(raw.columns) == 1 and any(d in raw.columns[0] for d in ";\t|"):
            hint = " (the header is one field: is the file separated by something other than , ; tab or |?)"
        raise DatasetError(f"{csv}: missing required column 'track_id'; found columns {list(raw.columns)}{hint}")
    if not {"audio_path", "lyrics_path", "lyrics"} & set(raw.columns):
        raise DatasetError(f"{csv}: needs a column 'audio_path' and/or 'lyrics_path' (or inline 'lyrics'); "
                           f"found columns {list(raw.columns)}")
    if raw.empty:
        raise DatasetError(f"{csv}: has a header but no rows: no tracks to load")
    if raw["track_id"].isna().any():
        rows = (raw.index[raw["track_id"].isna()] + 2).tolist()  # +2: header line, 1-based
        raise DatasetError(f"{csv}: column 'track_id' is empty on line(s) {rows}")
    root = csv.parent.resolve()
    resolve = _resolver(root)
    df = raw.copy()
    for col in ("audio_path", "lyrics_path"):
        if col in df.columns:
            df[col] = raw[col].map(resolve)
    return _finish(df, csv, root, "manifest", allow_outside, label_columns)


def _load_folder(folder: Path, label_columns=None) -> pd.DataFrame:
    rows = scan_folder(folder)
    if rows.empty:
        raise DatasetError(f"{folder}: holds no {JAMENDO_CSV}, no {MANIFEST_CSV} and no audio files "
                           f"({', '.join(s.lstrip('.') for s in AUDIO_SUFFIXES)}) in any subfolder")
    root = folder.resolve()
    resolve = _resolver(root)
    rows["audio_path"] = rows["audio_path"].map(resolve)
    rows["lyrics_path"] = rows["lyrics_path"].map(resolve)
    if rows["folder"].isna().all():
        rows = rows.drop(columns="folder")
    return _finish(rows, folder, root, "folder", False, label_columns)


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
    pd.DataFrame, one row per track (duplicates kept; ``validate`` drops them), columns
    ``track_id, artist, title, language, genre, audio_path, lyrics, has_audio, has_lyrics`` plus extra
    label/info columns (``lyrics_path`` where lyrics come from files). ``audio_path`` is absolute or
    missing; ``has_audio`` says the file exists (it is decoded only by ``validate``); ``has_lyrics``
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


# ---------------------------------------------------------------- validation

def _check_audio(path: str, min_duration_s: float, check_silence: bool) -> tuple[str, str] | None:
    """(problem, detail) for one audio file, or None when it is fine. Reads in blocks: memory stays small."""
    if os.path.isdir(path):
        return "not_a_file", "is a directory, not an audio file"
    if not os.path.isfile(path):
        return "missing_file", "audio file not found"
    if os.path.getsize(path) == 0:
        return "unreadable_audio", "empty file (0 bytes)"
    try:
        info = sf.info(path)
    except Exception as e:  # libsndfile says "File does not exist..." for formats it does not know
        suffix = Path(path).suffix.lower()
        if suffix in NEEDS_FFMPEG:
            return audio.probe_ffmpeg_format(path)
        return "unreadable_audio", f"not a decodable audio file (corrupt or unsupported format; libsndfile: {e})"
    try:
        if check_silence:  # decode it all: also proves the file decodes to its end
            n, peak, bad, first_bad = 0, 0.0, 0, None
            for block in sf.blocks(path, blocksize=1 << 16, dtype="float32", always_2d=True):
                finite = np.isfinite(block)
                if not finite.all():
                    nb = int((~finite).any(axis=1).sum())
                    if first_bad is None:
                        first_bad = n + int(np.argmax(~finite.all(axis=1)))
                    bad += nb
                if len(block):
                    peak = max(peak, float(np.max(np.abs(np.where(finite, block, 0)))))
                n += len(block)
            frames = n
        else:
            frames = info.frames
    except Exception as e:
        return "unreadable_audio", f"decoding stops part-way ({type(e).__name__}: {e})"
    duration = frames / info.samplerate if info.samplerate else 0.0
    if check_silence and bad:
        return "nonfinite_samples", (f"{bad} of {frames} samples are NaN or infinite (first at "
                                     f"{first_bad / info.samplerate:.2f} s): the file is damaged")
    if duration < min_duration_s:
        return "too_short", f"{duration:.2f} s < {min_duration_s} s"
    if check_silence and peak < SILENCE_PEAK:
        return "silent_audio", f"peak {peak:.2e} < {SILENCE_PEAK:.0e} ({SILENCE_DB:.0f} dBFS) over {duration:.1f} s"
    return None


def _audio_note(path: str) -> tuple[str, str] | None:
    """A usable file worth a word: a sample rate below what the features assume (kept, upsampled)."""
    try:
        sr = sf.info(path).samplerate
    except Exception:
        return None
    if sr < LOW_SAMPLE_RATE:
        return "low_sample_rate", (f"{sr} Hz (kept: upsampled; above {sr // 2} Hz its spectrum is empty, "
                                   "which high-frequency descriptors will show)")
    return None


def _check_lyrics(path, inline, root: Path | None) -> tuple[str | None, tuple[str, str] | None]:
    """(text, problem) for one track's lyrics; text None when unusable, problem None when absent by design."""
    if isinstance(path, str):
        if root is not None and not _inside(path, root):
            return None, ("outside_collection", f"resolves outside the collection folder {root}: not read")
        if os.path.isdir(path):
            return None, ("not_a_file", "is a directory, not a lyrics file")
        if not os.path.isfile(path):
            return None, ("missing_file", "lyrics file not found")
        size = os.path.getsize(path)
        if size > MAX_LYRICS_BYTES:
            return None, ("oversized_lyrics", f"{size} bytes > {MAX_LYRICS_BYTES} bytes: not song lyrics; not read")
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            return None, ("missing_file", f"cannot read ({e.strerror})")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            return None, ("undecodable_lyrics", f"not UTF-8: {e.reason} at byte {e.start}")
        if path.lower().endswith(".lrc"):
            text = strip_lrc(text)
    elif isinstance(inline, str):
        text = inline
    else:
        return None, None
    if not text.strip():
        return None, ("empty_lyrics", "lyrics are blank")
    return text, None


def validate(df: pd.DataFrame, min_duration_s: float = 3.0, check_silence: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check every track's files and labels; report problems instead of stopping.

    Parameters
    ----------
    df : pd.DataFrame
        From ``load_dataset``.
    min_duration_s : float
        Audio shorter than this (seconds) is ``too_short``.
    check_silence : bool
        Decode each audio file to its end (in blocks) to find ``silent_audio`` (peak < 1e-3),
        ``nonfinite_samples`` (NaN/inf) and files that fail part-way. False only opens the header.

    Returns
    -------
    df_clean : pd.DataFrame
        Duplicates dropped (first kept); ``has_audio``/``has_lyrics`` False where that modality failed.
    report : pd.DataFrame
        Columns ``track_id, modality, problem, detail, path, kept``; one row per problem (``modality`` is
        audio, lyrics, track or label). ``kept`` is True where the track still uses that modality (a
        note such as ``low_sample_rate``, or a missing label).

    Raises
    ------
    DatasetError
        When no track has a usable modality; names the dataset path.
    """
    source = df.attrs.get("source", "<dataset>")
    jamendo = df.attrs.get("layout") == "jamendolyrics"
    root = None if df.attrs.get("allow_outside") or not df.attrs.get("root") else Path(df.attrs["root"])
    rows: list[dict] = []

    def row(track_id, modality, problem, detail, path, kept=False):
        rows.append(dict(track_id=track_id, modality=modality, problem=problem, detail=detail, path=path, kept=kept))

    dup = df["track_id"].duplicated(keep="first")
    for _, r in df[dup].iterrows():
        row(r.track_id, "track", "duplicate_id", "track_id seen before; first kept",
            r.audio_path if isinstance(r.audio_path, str) else None)
    out = df[~dup].copy().reset_index(drop=True)
    out.attrs = dict(df.attrs)

    has_audio, has_lyrics, texts = [], [], []
    lyr_paths = out["lyrics_path"] if "lyrics_path" in out else pd.Series([None] * len(out))
    for r, lpath in zip(out.itertuples(index=False), lyr_paths):
        ok = False
        if isinstance(r.audio_path, str):
            if root is not None and not _inside(r.audio_path, root):
                prob = ("outside_collection", f"resolves outside the collection folder {root}: not read")
            else:
                prob = _check_audio(r.audio_path, min_duration_s, check_silence)
            if prob and prob[0] == "missing_file" and jamendo:
                prob = ("missing_file", f"{NOT_IN_COPY} (expected: not every JamendoLyrics copy ships mp3s)")
            if prob:
                row(r.track_id, "audio", prob[0], prob[1], r.audio_path)
            else:
                note = _audio_note(r.audio_path)
                if note:
                    row(r.track_id, "audio", note[0], note[1], r.audio_path, kept=True)
            ok = prob is None
        has_audio.append(ok)
        text, prob = _check_lyrics(lpath if isinstance(lpath, str) else None, r.lyrics, root)
        if prob:
            row(r.track_id, "lyrics", prob[0], prob[1], lpath if isinstance(lpath, str) else None)
        texts.append(text)
        has_lyrics.append(text is not None)
    out["lyrics"] = pd.Series(texts, dtype="str")
    out["has_audio"] = pd.Series(has_audio, dtype=bool)
    out["has_lyrics"] = pd.Series(has_lyrics, dtype=bool)

    for col in out.attrs.get("label_columns", []):
        for tid in out.loc[out[col].isna(), "track_id"]:
            row(tid, "label", "missing_label", f"column '{col}' is empty (scored without this song)", source, kept=True)

    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    if not (out["has_audio"] | out["has_lyrics"]).any():
        counts = report["problem"].value_counts().to_dict()
        raise DatasetError(f"{source}: no usable track (no readable audio nor lyrics in {len(df)} rows; problems: {counts})")
    return out, report


def summarize(df: pd.DataFrame, by=None, max_classes: int = 30) -> pd.DataFrame:
    """Track counts per class of each label column, split by modality.

    Parameters
    ----------
    df : validated tracks table.
    by : list of str, optional
        Columns to count by; default the table's label columns with at most ``max_classes`` classes
        (an artist column of a large collection would fill pages).

    Returns
    -------
    pd.DataFrame with columns ``by, value, tracks, audio, lyrics, both`` (one ``all`` row first).
    """
    def counts(g):
        return pd.Series({"tracks": len(g), "audio": int(g["has_audio"].sum()), "lyrics": int(g["has_lyrics"].sum()),
                          "both": int((g["has_audio"] & g["has_lyrics"]).sum())})

    if by is None:
        by = [c for c in df.attrs.get("label_columns", []) if c in df and df[c].nunique() <= max_classes]
    parts = [pd.DataFrame([{"by": "all", "value": "all", **counts(df)}])]
    for col in by:
        key = df[col].astype(object).where(df[col].notna(), "<missing>")
        t = pd.DataFrame([{"by": col, "value": v, **counts(g)} for v, g in df.groupby(key, sort=True)])
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def report_summary(report: pd.DataFrame) -> pd.DataFrame:
    """Problem x modality counts of a validation report; expected absences get their own row."""
    if report.empty:
        return pd.DataFrame()
    problem = report["problem"].where(~report["detail"].fillna("").str.startswith(NOT_IN_COPY),
                                      "missing_file (" + NOT_IN_COPY + ")")
    return pd.crosstab(problem.rename("problem"), report["modality"])


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
    ``features.extract_audio``: damaged, silent, too short) have ``has_audio`` False, so every later
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
    audio problems found when 01 decoded each file (``audio_failures.csv``), in the same columns."""
    p = Path(interim_dir) / "validation.csv"
    if not p.is_file():
        raise DatasetError(f"{p}: not found; run the data stage first (`make data` and notebook 00_data)")
    report = pd.read_csv(p, dtype={"track_id": str})
    extra = _audio_failures(processed_dir)
    if len(extra):
        report = pd.concat([report, extra[REPORT_COLUMNS]], ignore_index=True)
    return report.drop_duplicates(["track_id", "modality", "problem"], ignore_index=True)


# ---------------------------------------------------------------- fetching

def _is_url(src: str) -> bool:
    return str(src).startswith(("http://", "https://"))


def _open_src(src: str, rel: str):
    """A readable binary stream of ``rel`` under ``src``; None when it is absent (404 / no file)."""
    if _is_url(src):
        url = src.rstrip("/") + "/" + urllib.parse.quote(rel)
        try:
            return urllib.request.urlopen(url, timeout=60)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise DatasetError(f"{url}: HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, OSError) as e:
            raise DatasetError(f"{url}: cannot reach the source ({getattr(e, 'reason', e)}). {FETCH_HELP}") from e
    p = Path(src) / rel
    return open(p, "rb") if p.is_file() else None


def _copy_stream(stream, dest: Path) -> dict:
    """Copy to a temp file beside ``dest`` then ``os.replace``: never a half file under the real name."""
    h, size = hashlib.sha256(), 0
    with atomic_open(dest, suffix=".part") as f, stream:
        while block := stream.read(1 << 20):
            f.write(block)
            h.update(block)
            size += len(block)
        expected = stream.headers.get("Content-Length") if hasattr(stream, "headers") else None
        if expected is not None and int(expected) != size:
            raise DatasetError(f"{dest.name}: got {size} bytes, server announced {expected}")
    return {"size": size, "sha256": h.hexdigest()}


def _verified(dest: Path, rel: str, entry: dict | None) -> bool:
    p = dest / rel
    return entry is not None and p.is_file() and p.stat().st_size == entry["size"] and file_hash(p) == entry["sha256"]


def fetch_jamendo(src: str | os.PathLike, dest: str | os.PathLike, verbose: bool = False) -> dict:
    """Copy JamendoLyrics (csv, lyrics, mp3s where present) from a folder or URL; verified and resumable.

    Every copied file goes through a temp file and ``os.replace``; ``dest/.manifest.json`` records
    each file's size and sha256 (``{"source", "files": {relpath: {"size", "sha256"}}, "absent"}``) and
    ``dest/.complete`` is written last. A re-run of a complete copy re-hashes it against the manifest and
    copies nothing if all is well; otherwise (or without ``.complete``) it copies only what is missing
    or differs, and asks the source again for files it lacked. ``src`` is only read. Copied: the CSV,
    ``lyrics/<stem>.txt``, ``mp3/<Filepath>`` where the source has it, and README/ATTRIBUTION/LICENSE
    files; not the word lists or time annotations.

    Parameters
    ----------
    src : str or path
        Local JamendoLyrics folder, or an http(s) base URL with the same layout.
    dest : path
        Target folder.

    Returns
    -------
    dict with lists ``copied``, ``kept`` (already verified), ``absent`` (optional files the source
    lacks, e.g. mp3s), all relative paths.

    Raises
    ------
    DatasetError
        Source unreachable (message says how to set JAMENDO_SRC or run ``make demo``), or a required
        file (the CSV, a lyrics file) missing there.
    """
    src, dest = str(src), Path(dest)
    if not _is_url(src):
        if not (Path(src) / JAMENDO_CSV).is_file():
            raise DatasetError(f"{src}: no {JAMENDO_CSV} there (folder missing or not a JamendoLyrics copy). {FETCH_HELP}")
        if Path(src).resolve() == dest.resolve():
            raise DatasetError(f"{dest}: source and destination are the same folder")
    mpath, done = dest / ".manifest.json", dest / ".complete"
    manifest = json.loads(mpath.read_text()) if mpath.is_file() else {"source": src, "files": {}, "absent": []}
    files, absent = manifest["files"], set(manifest.get("absent", []))

    if done.is_file() and manifest["files"] and all(_verified(dest, r, e) for r, e in files.items()):
        return {"copied": [], "kept": sorted(files), "absent": sorted(absent)}
    done.unlink(missing_ok=True)

    stream = _open_src(src, JAMENDO_CSV)
    if stream is None:
        raise DatasetError(f"{src}/{JAMENDO_CSV}: not found. {FETCH_HELP}")
    files[JAMENDO_CSV] = _copy_stream(stream, dest / JAMENDO_CSV)
    copied = [JAMENDO_CSV]
    meta = _read_csv(dest / JAMENDO_CSV)
    if "Filepath" not in meta.columns:
        raise DatasetError(f"{src}/{JAMENDO_CSV}: missing column 'Filepath'")
    wanted = [(f"lyrics/{Path(f).stem}.txt", True) for f in meta["Filepath"]]
    wanted += [(f"mp3/{f}", False) for f in meta["Filepath"]]
    wanted += [(f, False) for f in ["README.md", "ATTRIBUTION.md", "LICENSE", "LICENSE.upstream"]]

    kept = []
    for rel, required in wanted:
        if _verified(dest, rel, files.get(rel)):
            kept.append(rel)
            continue
        stream = _open_src(src, rel)
        if stream is None:
            if required:
                raise DatasetError(f"{src}/{rel}: required file missing in the source")
            absent.add(rel)
            files.pop(rel, None)
        else:
            files[rel] = _copy_stream(stream, dest / rel)
            absent.discard(rel)
            copied.append(rel)
            if verbose:
                print(f"copied {rel}", flush=True)
        manifest.update(source=src, files=files, absent=sorted(absent))
        atomic_write_text(mpath, json.dumps(manifest, indent=1, ensure_ascii=False))
    manifest.update(source=src, files=files, absent=sorted(absent))
    atomic_write_text(mpath, json.dumps(manifest, indent=1, ensure_ascii=False))
    atomic_write_text(done, json.dumps({"files": len(files), "absent": len(absent)}) + "\n")
    return {"copied": copied, "kept": kept, "absent": sorted(absent)}


# ---------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m songspace.data", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="copy JamendoLyrics from a folder or URL")
    f.add_argument("--src", required=True)
    f.add_argument("--dest", required=True)
    v = sub.add_parser("validate", help="load + validate a dataset, write interim files, print summaries")
    v.add_argument("--src", required=True)
    v.add_argument("--out", required=True)
    v.add_argument("--min-duration", type=float, default=3.0)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "fetch":
            res = fetch_jamendo(a.src, a.dest, verbose=True)
            n_mp3 = sum(r.startswith("mp3/") for r in res["absent"])
            print(f"fetch {a.src} -> {a.dest}: copied {len(res['copied'])}, already verified {len(res['kept'])}; "
                  f"absent in source: {n_mp3} mp3s (not every copy has audio), {len(res['absent']) - n_mp3} optional files")
        else:
            df, report = validate(load_dataset(a.src), min_duration_s=a.min_duration)
            paths = write_interim(df, report, a.out)
            with pd.option_context("display.width", 200, "display.max_rows", 200):
                print(summarize(df).to_string(index=False))
                print()
                print(report_summary(report).to_string() if len(report) else "no problems")
            print(f"wrote {paths['tracks']} and {paths['validation']}")
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
