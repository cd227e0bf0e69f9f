"""Validation of a loaded collection: every problem of a track's audio, lyrics or labels becomes a row of a report.

``validate`` decodes or opens each audio file and reads each lyrics file, reports what is wrong and goes
on; only a collection with no usable track at all is an error. ``class_counts`` and ``report_summary``
are the two tables 00 shows: tracks per label class and modality, problems per modality.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from songspace.cache import file_hash
from songspace.data.collection import detect_label_columns, strip_lrc
from songspace.data.text import FALLBACK, TextDecodeError, decode_text
from songspace.data.loading import REPORT_COLUMNS, DatasetError, inside
from songspace.data.metadata import MAX_LYRICS_BYTES
from songspace.features import audio, formats

log = logging.getLogger(__name__)

NOT_IN_COPY = "audio not in this copy"  # JamendoLyrics copies may ship lyrics without mp3s: expected
SILENCE_DB = -60.0  # dBFS peak below which a file is silent; the same default as audio.AudioParams.silence_db
SILENCE_PEAK = 10 ** (SILENCE_DB / 20)
LOW_SAMPLE_RATE = 16000  # Hz; below this a file is kept with a note (telephone-band audio)
MISSING_LABEL = "column '{}' is empty (scored without this song)"  # a missing_label row's detail, read back by
_MISSING_LABEL = re.compile(r"column '(.*)' is empty")                # ``label_gap_column``


def label_gap_column(detail: str) -> str | None:
    """The label column a ``missing_label`` row's detail names (``MISSING_LABEL``), else None."""
    m = _MISSING_LABEL.match(str(detail))
    return m.group(1) if m else None


KEPT_AUDIO_NOTES = ("truncated",)  # what ``_check_audio`` may return for a file that is still used


def _check_audio(path: str, min_duration_s: float, check_silence: bool) -> tuple[str, str] | None:
    """(problem, detail) for one audio file, or None when it is fine; a problem in ``KEPT_AUDIO_NOTES`` is a
    note on a file still used. Reads in blocks: memory stays small."""
    if os.path.isdir(path):
        return "not_a_file", "is a directory, not an audio file"
    if not os.path.isfile(path):
        return "missing_file", "audio file not found"
    if os.path.getsize(path) == 0:
        return "unreadable_audio", "empty file (0 bytes)"
    if formats.decoder_for(path) == "av":  # PyAV's formats (by the bytes, not the name): header, or one decode
        return _check_av_audio(path, min_duration_s, check_silence)
    try:
        info = sf.info(path)
    except Exception:  # not a libsndfile file after all (an .ogg holding Opus?): FFmpeg's reader tries
        return _check_av_audio(path, min_duration_s, check_silence)
    frames = info.frames
    if check_silence:  # decode it all: also proves the file decodes to its end
        n, peak, bad, first_bad = 0, 0.0, 0, None
        try:
            for block in _blocks(path, 1 << 16):
                finite = np.isfinite(block)
                if not finite.all():
                    nb = int((~finite).any(axis=1).sum())
                    if first_bad is None:
                        first_bad = n + int(np.argmax(~finite.all(axis=1)))
                    bad += nb
                if len(block):
                    peak = max(peak, float(np.max(np.abs(np.where(finite, block, 0)))))
                n += len(block)
        except Exception:  # damaged data part-way: judged by 01's own decode, which keeps what decoded before it
            return _decoded_verdict(path, min_duration_s)
        frames = n
    duration = frames / info.samplerate if info.samplerate else 0.0
    declared = audio.header_length(path, info.format, info.frames / info.samplerate) if info.samplerate else 0.0
    short = duration < declared - audio.TRUNCATED_TOLERANCE_S  # as 01's decode judges it; header-only: a cut WAV
    if short and duration < min_duration_s:
        return "unreadable_audio", (f"truncated: {duration:.1f} of {declared:.1f} s decoded, the file ends early; "
                                    f"less than the {min_duration_s} s minimum")
    if check_silence and bad:
        return "nonfinite_samples", (f"{bad} of {frames} samples are NaN or infinite (first at "
                                     f"{first_bad / info.samplerate:.2f} s): the file is damaged")
    if duration < min_duration_s:
        return "too_short", f"{duration:.2f} s < {min_duration_s} s"
    if check_silence and peak < SILENCE_PEAK:
        return "silent_audio", f"peak {peak:.2e} < {SILENCE_PEAK:.0e} ({SILENCE_DB:.0f} dBFS) over {duration:.1f} s"
    if short:  # usable: a note, as 01 writes it
        return "truncated", f"{duration:.1f} of {declared:.1f} s decoded (the file ends early); kept"
    return None


def _blocks(path: str, size: int):
    """A libsndfile file's frames in blocks of ``size`` (float32, 2-d), to where decoding really stops:
    ``sf.blocks`` trusts the header's frame count and pads a file that ends early with stale samples."""
    with sf.SoundFile(path) as f:
        while True:
            block = f.read(size, dtype="float32", always_2d=True)
            if len(block):
                yield block
            if len(block) < size:
                return


def _decoded_verdict(path: str, min_duration_s: float) -> tuple[str, str] | None:
    """One decode, judged as 01 judges it (``audio.decode_checked``): unreadable (also when cut to less than
    ``min_duration_s``), too short, silent, or kept with a ``truncated`` note (01's caveat for a file cut short)."""
    try:
        y, notes = audio.decode_checked(path, 22050, min_duration_s)
    except audio.AudioError as e:
        return e.problem, e.detail
    duration = len(y) / 22050
    if duration < min_duration_s:
        return "too_short", f"{duration:.2f} s < {min_duration_s} s"
    if float(np.max(np.abs(y))) < SILENCE_PEAK:
        return "silent_audio", f"peak < {SILENCE_PEAK:.0e} ({SILENCE_DB:.0f} dBFS) over {duration:.1f} s"
    return next((n for n in notes if n[0] in KEPT_AUDIO_NOTES), None)  # out_of_range: 01 rescales it, no row here


def _check_av_audio(path: str, min_duration_s: float, check_silence: bool) -> tuple[str, str] | None:
    """``_check_audio`` for a file libsndfile does not read: its header, or (``check_silence``) one decode."""
    if check_silence:
        return _decoded_verdict(path, min_duration_s)
    try:
        duration = audio.probe(path)[0]
    except audio.AudioError as e:
        return e.problem, e.detail
    if duration < min_duration_s:
        return "too_short", f"{duration:.2f} s < {min_duration_s} s"
    return None


def _audio_notes(path: str) -> list[tuple[str, str]]:
    """What is worth a word about a usable file: a sample rate below what the features assume (kept,
    upsampled), a suffix that names another format than the file holds (kept, read as what it holds)."""
    notes = []
    wrong = formats.misnamed(path)
    if wrong:
        held, named = wrong
        notes.append(("misnamed_audio", f"its bytes are {held}, not the {named} its {Path(path).suffix} suffix says: "
                                        f"kept, read as {held} (other programs may go by the name)"))
    try:
        sr = audio.probe(path)[1]
    except audio.AudioError:
        return notes
    if sr < LOW_SAMPLE_RATE:
        notes.append(("low_sample_rate", (f"{sr} Hz (kept: upsampled; above {sr // 2} Hz its spectrum is empty, "
                                          "which high-frequency descriptors will show)")))
    return notes


def _check_lyrics(path, inline, root: Path | None) -> tuple[str | None, tuple[str, str] | None]:
    """(text, problem) for one track's lyrics; text None when unusable, problem None when absent by design."""
    if isinstance(path, str):
        if root is not None and not inside(path, root):
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
            text, how = decode_text(data)
        except TextDecodeError as e:
            return None, ("undecodable_lyrics", f"{e}: not used")
        if path.lower().endswith(".lrc"):
            text = strip_lrc(text)
        if "fallback" in how and text.strip():  # used, with a word: the code page may be the wrong one
            return text, ("lyrics_encoding", f"not UTF-8 and no byte-order mark: decoded as {how}; "
                          "kept, check the text" + (" if it is not Western European" if FALLBACK in how else ""))
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
    rows: list[dict] = list(df.attrs.get("load_problems", []))  # manifest lines left out, unreadable tags

    def row(track_id, modality, problem, detail, path, kept=False):
        rows.append(dict(track_id=track_id, modality=modality, problem=problem, detail=detail, path=path, kept=kept))

    dup = df["track_id"].duplicated(keep="first")
    lines = df.attrs.get("lines")  # manifest line of each row, when the collection is a manifest
    lines = lines if lines and len(lines) == len(df) else None
    ids = df["track_id"].tolist()
    first: dict = {}
    for i, t in enumerate(ids):
        first.setdefault(t, i)
    for i in np.flatnonzero(dup.to_numpy()):
        j = first[ids[i]]
        path, kept = df["audio_path"].iloc[i], df["audio_path"].iloc[j]
        at, kept_at = (f"line {lines[i]}: ", f" on line {lines[j]}") if lines else ("", "")
        which = f" (the song kept: {kept})" if isinstance(kept, str) else ""
        row(ids[i], "track", "duplicate_id", f"{at}track_id seen before; first kept{kept_at}{which}",
            path if isinstance(path, str) else None)
    out = df[~dup].copy().reset_index(drop=True)
    out.attrs = {k: v for k, v in df.attrs.items() if k not in ("load_problems", "lines")}
    if dup.any() and not df.attrs.get("labels_explicit"):
        # a dropped row can have been a label's only shared class: labels are what groups the songs kept
        # (labels the user named are kept as named, as detect_label_columns keeps them)
        groups = set(detect_label_columns(out))
        labels = out.attrs.get("label_columns", [])
        gone = [c for c in labels if c not in groups]
        if gone:
            log.info("label column(s) %s no longer group any songs once the duplicate track_id rows are dropped: "
                     "not scored", ", ".join(gone))
        out.attrs["label_columns"] = [c for c in labels if c in groups]

    has_audio, has_lyrics, texts = [], [], []
    lyr_paths = out["lyrics_path"] if "lyrics_path" in out else pd.Series([None] * len(out))
    for r, lpath in zip(out.itertuples(index=False), lyr_paths):
        ok = False
        if isinstance(r.audio_path, str):
            if root is not None and not inside(r.audio_path, root):
                prob = ("outside_collection", f"resolves outside the collection folder {root}: not read")
            else:
                prob = _check_audio(r.audio_path, min_duration_s, check_silence)
            if prob and prob[0] == "missing_file" and jamendo:
                prob = ("missing_file", f"{NOT_IN_COPY} (expected: not every JamendoLyrics copy ships mp3s)")
            if prob and prob[0] in KEPT_AUDIO_NOTES:
                row(r.track_id, "audio", prob[0], prob[1], r.audio_path, kept=True)
                prob = None
            if prob:
                row(r.track_id, "audio", prob[0], prob[1], r.audio_path)
            else:
                for note in _audio_notes(r.audio_path):
                    row(r.track_id, "audio", note[0], note[1], r.audio_path, kept=True)
            ok = prob is None
        has_audio.append(ok)
        text, prob = _check_lyrics(lpath if isinstance(lpath, str) else None, r.lyrics, root)
        if prob:
            row(r.track_id, "lyrics", prob[0], prob[1], lpath if isinstance(lpath, str) else None,
                kept=text is not None)
        texts.append(text)
        has_lyrics.append(text is not None)
    out["lyrics"] = pd.Series(texts, dtype="str")
    out["has_audio"] = pd.Series(has_audio, dtype=bool)
    for tid, path, detail in _same_bytes(out.loc[out["has_audio"], ["track_id", "audio_path"]]):
        row(tid, "audio", "duplicate_audio", detail, path, kept=True)
    out["has_lyrics"] = pd.Series(has_lyrics, dtype=bool)

    usable = out["has_audio"] | out["has_lyrics"]  # a song with neither is scored on nothing: no label gap to report
    for col in out.attrs.get("label_columns", []):
        for tid in out.loc[out[col].isna() & usable, "track_id"]:
            row(tid, "label", "missing_label", MISSING_LABEL.format(col), source, kept=True)

    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    if not (out["has_audio"] | out["has_lyrics"]).any():  # nothing to write a report beside: the error is it
        counts = report["problem"].value_counts().to_dict()
        rows = [f"  {r.path or r.track_id}: {r.problem} ({r.detail})" for r in report.head(20).itertuples()]
        more = [f"  ... and {len(report) - 20} more"] if len(report) > 20 else []
        raise DatasetError(f"{source}: no usable track (no readable audio nor lyrics in {len(df)} rows; problems: "
                           f"{counts}):\n" + "\n".join(rows + more))
    return out, report


def _same_bytes(songs: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(track_id, path, detail) of each audio file whose bytes equal an earlier song's: a copy under another
    name, which would be its original's nearest neighbour at distance 0. Only files of equal size are hashed."""
    sizes = pd.Series({i: os.path.getsize(p) for i, p in zip(songs.index, songs["audio_path"])}, dtype="int64")
    found, seen = [], {}
    for i in sizes[sizes.duplicated(keep=False)].index:
        key = (sizes[i], file_hash(songs.at[i, "audio_path"]))
        if key in seen and os.path.realpath(seen[key][1]) != os.path.realpath(songs.at[i, "audio_path"]):
            tid, path = seen[key]  # (rows of a manifest that share one file are not copies of it)
            found.append((songs.at[i, "track_id"], songs.at[i, "audio_path"],
                          f"the same bytes as {path} (song {tid}); kept: scored as a song of its own"))
        else:
            seen.setdefault(key, (songs.at[i, "track_id"], songs.at[i, "audio_path"]))
    return found


def class_counts(df: pd.DataFrame, by=None, max_classes: int = 30) -> pd.DataFrame:
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
