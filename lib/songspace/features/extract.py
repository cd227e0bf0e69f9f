"""Audio feature extraction for a tracks table: windows, pooled descriptors, log-mel patches, and
pretrained embeddings (the musicnn backends).

Each track is decoded once in a worker; descriptors, log-mel patches and each backend's embeddings are
cached separately, each keyed by the file's content hash and only the parameters it depends on. The
parent streams results to disk in track order, so memory does not grow with the corpus.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from songspace.cache import (
    atomic_to_csv,
    atomic_to_parquet,
    atomic_write_text,
    remove_stale_temps,
    temp_prefix,
)
from songspace.features import descriptors, same_recording
from songspace.features.audio import AudioParams
from songspace.features.per_track import _check_backends, backend_key, track_features
from songspace.features.saved import (
    BACKEND_FILES,
    DESCRIPTOR_FILES,
    FAILURE_COLUMNS,
    FAILURES,
    MUSICNN_BACKENDS,
    NOTES,
    backend_columns,
    backend_path,
)
from songspace.parallel import map_ordered, scheduler_address

log = logging.getLogger(__name__)

def extract_audio(tracks: pd.DataFrame, params: AudioParams | None = None, out_dir=".", n_jobs: int = -1,
                  scheduler: str | None = None, cache_dir=None, progress: bool = True,
                  audio_backends=("descriptors",), failures_at=None) -> dict:
    """Extract windows, descriptors and log-mel patches, and/or pretrained embeddings, of every track with audio.

    Parameters
    ----------
    tracks : pd.DataFrame
        Columns ``track_id``, ``audio_path``, ``has_audio`` (rows without audio are skipped).
    params : AudioParams, optional
    out_dir : path
        Receives ``audio_failures.csv`` and ``features.json`` (parameters and run stats), and per backend:

        - ``"descriptors"``: ``windows.parquet`` (track_id, window, start_s, end_s), ``descriptors_windows.parquet``,
          ``descriptors_tracks.parquet``, ``logmel.npy`` (n_windows, n_mels, patch_frames) float32 dB;
        - ``"musicnn-msd"`` / ``"musicnn-mtt"`` (see ``load_backend``): ``audio_<backend>_tracks.parquet``
          (track_id, then the mean over the track's 3-s patches (at most ``params.musicnn_max_patches``,
          evenly spaced) of ``emb_000``..``emb_199`` and of the 50
          ``tag_<name>`` probabilities), ``audio_<backend>_windows.npy`` (n_patches_total, 250) float32 (the
          same columns per patch) and ``audio_<backend>_windows.parquet`` (track_id, patch, start_s).
    n_jobs : int
        Local worker processes (-1 = all cores).
    scheduler : str, optional
        dask.distributed scheduler address (else ``$SONGSPACE_DASK_SCHEDULER``, else local).
        Workers run BLAS/OpenMP and torch on one thread (with an in-process ``LocalCluster(processes=False)``
        that limit stays on in this process).
    cache_dir : path, optional
        Per-track cache (default ``out_dir/cache``); ``False`` disables caching.
    progress : bool
        Show a progress bar.
    audio_backends : sequence of str
        Any of ``"descriptors"`` (default), ``"musicnn-msd"``, ``"musicnn-mtt"``. Each track is decoded
        once at ``params.sr``; musicnn backends resample that signal to 16 kHz. Tracks rows, windows
        rows and failures follow the tracks table's order for every backend.
    failures_at : str, optional
        Where the error logged when no track gave features tells the user to read why (default: the path of
        ``audio_failures.csv``; ``assign``, whose folder is temporary, names its own table).

    Returns
    -------
    stats : dict
        ``n_tracks``, ``n_ok``, ``n_failed``, ``decoded``, ``audio_s`` (seconds of audio), ``wall_s``,
        ``x_realtime``; with descriptors ``n_windows``, ``desc_computed``, ``desc_cached``,
        ``logmel_computed``, ``logmel_cached``; per musicnn backend ``<b>_computed``, ``<b>_cached``,
        ``<b>_patches``. When no track gives features (every file damaged, silent or too short), only
        ``audio_failures.csv`` is written, earlier outputs are removed, and ``n_ok`` is 0: each file's
        problem is a row there, as the validation report of a batch (``loading.read_report`` merges them).
    """
    t_start = time.perf_counter()
    p = params or AudioParams()
    backends = _check_backends(audio_backends)
    desc_on = "descriptors" in backends
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir)  # a killed run's half-written spool and tables
    if cache_dir is None:
        cache_dir = out_dir / "cache"
    if cache_dir and Path(cache_dir).is_dir():
        remove_stale_temps(cache_dir)  # entries a killed worker was writing (shared with the lyrics cache)
    missing = {"track_id", "audio_path", "has_audio"} - set(tracks.columns)
    if missing:
        raise ValueError(f"tracks table lacks column(s) {sorted(missing)}")
    rows = tracks[tracks["has_audio"].astype(bool)]
    in_worker = n_jobs != 1 or scheduler_address(scheduler) is not None
    jobs = [dict(track_id=str(t), path=str(a), params=p.as_dict(), cache_dir=str(cache_dir) if cache_dir else None,
                 in_worker=in_worker, backends=backends) for t, a in zip(rows["track_id"], rows["audio_path"])]
    names = descriptors.descriptor_names(p)
    stats = dict(n_tracks=len(jobs), n_ok=0, n_failed=0, decoded=0, audio_s=0.0)
    if desc_on:
        stats.update(n_windows=0, desc_computed=0, desc_cached=0, logmel_computed=0, logmel_cached=0)
    for b in backends:
        if b in MUSICNN_BACKENDS:
            stats.update({f"{b}_computed": 0, f"{b}_cached": 0, f"{b}_patches": 0})
    dtrack, fails, notes = [], [], []
    # Per-window tables and log-mel patches go to disk track by track (parquet row groups, a raw
    # spool), so memory does not grow with the corpus; the final files appear only at the end.
    tmp = {name: _tmp_path(out_dir, name)
           for name in ("windows.parquet", "descriptors_windows.parquet", "logmel.npy")} if desc_on else {}
    spool = _tmp_path(out_dir, "logmel.spool") if desc_on else None
    sinks = {}
    writers, buffer, buffered = {}, [], 0
    try:
        sinks = {b: _EmbeddingSink(out_dir, b) for b in backends if b in MUSICNN_BACKENDS}
        with open(spool, "wb") if desc_on else contextlib.nullcontext() as f:
            for r in map_ordered(track_features, jobs, n_jobs=n_jobs, scheduler=scheduler, desc="audio features",
                                 unit="track", progress=progress):
                stats["decoded"] += r["decoded"]
                if "problem" in r:
                    stats["n_failed"] += 1
                    fails.append(dict(track_id=r["track_id"], modality="audio", problem=r["problem"],
                                      detail=r["detail"], path=r["path"]))
                    continue
                stats["n_ok"] += 1
                notes += [dict(track_id=r["track_id"], modality="audio", problem=a, detail=b, path=r["path"])
                          for a, b in r.get("notes", ())]
                for b, sink in sinks.items():
                    stats[f"{b}_cached" if r[f"{b}_cached"] else f"{b}_computed"] += 1
                    sink.add(r["track_id"], r[b])
                if not desc_on:
                    stats["audio_s"] += float(r[backends[0]]["n_samples"]) / p.sr
                    continue
                stats["desc_cached" if r["desc_cached"] else "desc_computed"] += 1
                stats["logmel_cached" if r["logmel_cached"] else "logmel_computed"] += 1
                n = len(r["starts"])
                stats["n_windows"] += n
                stats["audio_s"] += float(r["n_samples"]) / p.sr
                start_s = r["starts"] / p.sr
                buffer.append((r["track_id"], start_s, r["desc_windows"]))
                buffered += n
                if buffered >= FLUSH_WINDOWS:
                    _flush(buffer, writers, tmp, names, p)
                    buffered = 0
                dtrack.append(dict(track_id=r["track_id"], duration_s=float(r["n_samples"]) / p.sr, n_windows=n,
                                   **dict(zip(names, r["desc_track"].tolist()))))
                f.write(np.ascontiguousarray(r["logmel"], dtype=np.float32).tobytes())
        _flush(buffer, writers, tmp, names, p)
        for w in writers.values():
            w.close()
        failures = pd.DataFrame(fails, columns=FAILURE_COLUMNS)
        atomic_to_csv(failures, out_dir / FAILURES)
        if not stats["n_ok"]:  # a batch result, not a crash: every file is a row of audio_failures.csv
            atomic_to_csv(pd.DataFrame(notes, columns=FAILURE_COLUMNS), out_dir / NOTES)
            _remove_outputs(out_dir, backends)
            log.error("no track gave audio features: %d failed, see %s", stats["n_failed"],
                      failures_at or out_dir / FAILURES)
            return stats
        if desc_on:
            _npy_from_spool(tmp["logmel.npy"], spool, (stats["n_windows"], p.n_mels, p.patch_frames))
            atomic_to_parquet(pd.DataFrame(dtrack), out_dir / "descriptors_tracks.parquet")
            for name, path in tmp.items():
                os.replace(path, out_dir / name)
            pairs = same_recording.same_recordings(pd.read_parquet(out_dir / "windows.parquet"),
                                                   np.load(out_dir / "logmel.npy", mmap_mode="r"))
            same = same_recording.notes(pairs, {j["track_id"]: j["path"] for j in jobs})
            stats["same_recordings"] = len(same)
            notes += same
        atomic_to_csv(pd.DataFrame(notes, columns=FAILURE_COLUMNS), out_dir / NOTES)  # used, with a caveat
        for b, sink in sinks.items():
            stats[f"{b}_patches"] = sink.finish()
        stats["wall_s"] = time.perf_counter() - t_start
        stats["x_realtime"] = stats["audio_s"] / stats["wall_s"]
        atomic_write_text(out_dir / "features.json",
                          json.dumps(dict(params=p.as_dict(), audio_backends=backends, descriptors=names,
                                          backend_keys={b: backend_key(b, p) for b in sinks}, stats=stats),
                                     indent=1))
    finally:
        for w in writers.values():
            w.close()
        for sink in sinks.values():
            sink.discard()
        for path in [spool, *tmp.values()]:
            if path is not None:
                Path(path).unlink(missing_ok=True)
    return stats


def _npy_from_spool(path, spool, shape: tuple) -> None:
    """Write a float32 .npy file of ``shape``: an .npy header + the spool's raw bytes, copied with plain
    reads (no memmap page cache)."""
    with open(path, "wb") as out, open(spool, "rb") as src:
        np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                   "fortran_order": False, "shape": shape})
        shutil.copyfileobj(src, out, 1 << 24)


class _EmbeddingSink:
    """One musicnn backend's outputs, streamed track by track to temp files in ``out_dir`` and put in
    place by ``finish`` (``discard`` removes whatever is left)."""

    def __init__(self, out_dir: Path, backend: str):
        self.out_dir, self.backend = out_dir, backend
        self.columns = backend_columns(backend)
        self.final = {k: backend_path(out_dir, backend, k) for k in BACKEND_FILES}
        self.tmp = {k: _tmp_path(out_dir, f.name) for k, f in self.final.items() if k != "tracks.parquet"}
        self.spool_path = _tmp_path(out_dir, f"audio_{backend}_windows.spool")
        self.spool = open(self.spool_path, "wb")
        self.ids, self.pooled, self.buffer, self.writers, self.n = [], [], [], {}, 0

    def add(self, track_id: str, e: dict) -> None:
        """Append one track: ``e`` has ``pen`` (n, 200), ``tags`` (n, 50), ``starts_s`` (n,)."""
        X = np.hstack([e["pen"], e["tags"]]).astype(np.float32)
        self.spool.write(np.ascontiguousarray(X).tobytes())
        self.ids.append(track_id)
        self.pooled.append(X.mean(axis=0))
        self.buffer.append((track_id, np.asarray(e["starts_s"], dtype=np.float64)))
        self.n += len(X)
        if sum(len(s) for _, s in self.buffer) >= FLUSH_WINDOWS:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            import pyarrow as pa

            ids, patch = _rows(self.buffer)
            start_s = np.concatenate([s for _, s in self.buffer])
            _append(self.writers, "windows.parquet", self.tmp,
                    pa.table({"track_id": ids, "patch": patch, "start_s": start_s}))
            self.buffer.clear()

    def finish(self) -> int:
        """Write the final files (at least one track was added); return the number of patches."""
        self._flush()
        self.spool.close()
        for w in self.writers.values():
            w.close()
        _npy_from_spool(self.tmp["windows.npy"], self.spool_path, (self.n, len(self.columns)))
        pooled = np.vstack(self.pooled) if self.pooled else np.zeros((0, len(self.columns)), np.float32)
        atomic_to_parquet(pd.concat([pd.DataFrame(dict(track_id=self.ids)),
                                     pd.DataFrame(pooled, columns=self.columns)], axis=1), self.final["tracks.parquet"])
        for k, path in self.tmp.items():
            os.replace(path, self.final[k])
        return self.n

    def discard(self) -> None:
        self.spool.close()
        for w in self.writers.values():
            w.close()
        for path in [self.spool_path, *self.tmp.values()]:
            Path(path).unlink(missing_ok=True)


def remove_audio_outputs(out_dir) -> None:
    """Everything ``extract_audio`` writes, removed from ``out_dir``: 01 calls it for a collection without
    audio, so that no later stage, and no report, reads an earlier run's audio features, failures or notes."""
    out_dir = Path(out_dir)
    _remove_outputs(out_dir, MUSICNN_BACKENDS)
    for name in (FAILURES, NOTES):
        (out_dir / name).unlink(missing_ok=True)


def _remove_outputs(out_dir: Path, backends) -> None:
    """Remove what an earlier run wrote, so that no later stage reads audio features this run did not make."""
    paths = [out_dir / name for name in (*DESCRIPTOR_FILES, "features.json")]
    paths += [backend_path(out_dir, b, k) for b in MUSICNN_BACKENDS for k in BACKEND_FILES]
    for path in paths:
        path.unlink(missing_ok=True)


def _tmp_path(out_dir: Path, name: str) -> Path:
    fd, path = tempfile.mkstemp(dir=out_dir, prefix=temp_prefix(name), suffix=".tmp")
    os.close(fd)
    return Path(path)


FLUSH_WINDOWS = 20_000  # windows buffered before a parquet row group is written (~20 MB of descriptors)


def _flush(buffer: list, writers: dict, tmp: dict, names: list, p: AudioParams) -> None:
    """Write the buffered tracks' windows and descriptors as one row group each, then empty the buffer.

    The tables are built in pyarrow from the arrays (through pandas, the 145 descriptor columns
    cost ~8 ms per track in the parent, which shares the cores with the workers)."""
    import pyarrow as pa

    if not buffer:
        return
    ids, window = _rows([(t, s) for t, s, _ in buffer])
    start_s = np.concatenate([s for _, s, _ in buffer]).astype(np.float64)
    columns = np.ascontiguousarray(np.vstack([d for _, _, d in buffer]).T)  # (n_desc, n_windows)
    _append(writers, "windows.parquet", tmp, pa.table(
        {"track_id": ids, "window": window, "start_s": start_s, "end_s": start_s + p.window_s}))
    _append(writers, "descriptors_windows.parquet", tmp, pa.table(
        {"track_id": ids, "window": window, **dict(zip(names, columns))}))
    buffer.clear()


def _rows(buffer: list) -> tuple:
    """Row keys of buffered tracks, ``buffer`` = [(track_id, per-row array), ...]: the track id of every
    row (pyarrow large_string, as pandas writes it) and the row's position within its track (int64)."""
    import pyarrow as pa

    ids = pa.array(np.concatenate([np.full(len(a), t, dtype=object) for t, a in buffer]), type=pa.large_string())
    return ids, np.concatenate([np.arange(len(a), dtype=np.int64) for _, a in buffer])


def _append(writers: dict, name: str, tmp: dict, table) -> None:
    """Append a ``pyarrow.Table`` to a parquet file as a row group (opened on first use)."""
    import pyarrow.parquet as pq

    if name not in writers:
        writers[name] = pq.ParquetWriter(tmp[name], table.schema)
    writers[name].write_table(table)
