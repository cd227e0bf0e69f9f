"""The clusters as playlists a music player opens: one extended M3U (``.m3u8``, UTF-8) per cluster.

Each file starts with ``#EXTM3U``; each song is an ``#EXTINF:<seconds>,<name>`` line (``-1`` seconds when
its length cannot be read) followed by the path of its audio file relative to the playlist's folder
(absolute when no relative path exists, e.g. another drive), with ``/`` separators, which VLC and other
players accept on every system. Songs without an audio file (lyrics only) have no entry. A file is
named after its cluster and the tags that set it apart (``cluster_tags``), e.g.
``cluster-02-female-vocalists-pop.m3u8``.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pandas as pd

from songspace.cache import atomic_write_text

log = logging.getLogger(__name__)


def durations(tracks: pd.DataFrame, processed_dir=None) -> pd.Series:
    """Seconds of each song's audio, indexed by track id: the length 01 decoded (``descriptors_tracks.parquet``;
    a file cut short plays only that long, whatever its header says), else the file header
    (``soundfile.info``), else the end of its last analysis window (``windows.parquet``), else -1 (unknown)."""
    import soundfile

    ids = tracks["track_id"].astype(str).to_numpy()
    out = pd.Series(-1.0, index=ids)
    decoded, ends = pd.Series(dtype=float), pd.Series(dtype=float)
    folder = Path(processed_dir) if processed_dir else None
    if folder is not None and (folder / "descriptors_tracks.parquet").is_file():
        d = pd.read_parquet(folder / "descriptors_tracks.parquet", columns=["track_id", "duration_s"])
        decoded = d.set_index(d["track_id"].astype(str))["duration_s"]
    if folder is not None and (folder / "windows.parquet").is_file():
        w = pd.read_parquet(folder / "windows.parquet", columns=["track_id", "end_s"])
        ends = w.groupby(w["track_id"].astype(str))["end_s"].max()
    for tid, path in zip(ids, tracks["audio_path"] if "audio_path" in tracks else [None] * len(ids)):
        if not isinstance(path, str) or not path:
            continue
        if tid in decoded.index:
            out[tid] = float(decoded[tid])
            continue
        try:
            out[tid] = float(soundfile.info(path).duration)
        except Exception:  # a format libsndfile does not read (m4a through ffmpeg): the windows say it
            out[tid] = float(ends.get(tid, -1.0))
    return out


def playlist_name(cluster_id, tags=None) -> str:
    """``cluster-<id>[-<tag>-<tag>].m3u8``, the tags lower-cased with anything but letters and digits as ``-``."""
    words = "-".join(tags or [])
    words = re.sub(r"[^\w]+", "-", words.lower(), flags=re.UNICODE).strip("-_")
    return f"cluster-{int(cluster_id):02d}" + (f"-{words}" if words else "") + ".m3u8"


def _relative(path: str, folder: Path) -> str:
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # no relative path (another drive on Windows): absolute
        return Path(path).as_posix()


def write_playlists(clusters: pd.DataFrame, tracks: pd.DataFrame, out_dir, tags: dict | None = None,
                    processed_dir=None, column: str = "cluster") -> Path:
    """One ``.m3u8`` per cluster of ``clusters[column]`` in ``out_dir`` (earlier playlists there removed).

    Parameters
    ----------
    clusters : ``clusters.csv`` (``track_id``, ``name``, ``cluster``).
    tracks : tracks table with ``audio_path`` (absolute paths; None for songs without audio) and ``has_audio``
        (songs whose audio is missing or failed to decode are left out, whatever their path).
    tags : cluster -> tag names (``export.cluster_tags``), for the file names.
    processed_dir : 01's folder (song lengths from its windows when a header cannot be read).

    Returns
    -------
    Path of ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = tracks.assign(track_id=tracks["track_id"].astype(str)).set_index("track_id")
    songs = clusters.dropna(subset=[column]).astype({"track_id": str})
    paths = meta["audio_path"].reindex(songs["track_id"]) if "audio_path" in meta else pd.Series(None, index=songs["track_id"])
    songs = songs.assign(audio_path=paths.to_numpy())
    usable = (meta["has_audio"].reindex(songs["track_id"]).fillna(False).astype(bool).to_numpy()
              if "has_audio" in meta else True)  # a path to a missing or undecodable file is no song to play
    songs = songs[songs["audio_path"].map(lambda p: isinstance(p, str) and bool(p)) & usable]
    seconds = durations(meta.loc[songs["track_id"]].reset_index(), processed_dir) if len(songs) else pd.Series(dtype=float)
    written = set()
    for cid, group in songs.groupby(column, sort=True):
        lines = ["#EXTM3U"]
        for r in group.itertuples():
            name = str(getattr(r, "name", r.track_id)).replace("\n", " ")
            lines += [f"#EXTINF:{int(round(seconds.get(r.track_id, -1)))},{name}", _relative(r.audio_path, out_dir)]
        path = out_dir / playlist_name(cid, (tags or {}).get(cid))
        atomic_write_text(path, "\n".join(lines) + "\n")
        written.add(path)
    for stale in set(out_dir.glob("*.m3u8")) - written:
        stale.unlink()
    log.info("wrote %d playlists (%d songs with audio) to %s", len(written), len(songs), out_dir)
    return out_dir
