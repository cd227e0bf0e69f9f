"""Audio feature extraction for a tracks table: windows, pooled descriptors, log-mel patches, and
pretrained embeddings (the musicnn backends).

Each track is decoded once in a worker; descriptors, log-mel patches and each backend's embeddings are
cached separately, each keyed by the file's content hash and only the parameters it depends on. The
parent streams results to disk in track order, so memory does not grow with the corpus.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soxr
from threadpoolctl import ThreadpoolController  # via scikit-learn

from songspace import audio
from songspace.audio import AudioError, AudioParams
from songspace.cache import (NpzCache, atomic_to_csv, atomic_to_parquet, atomic_write_text, file_hash, params_hash,
                             remove_stale_temps, temp_prefix)
from songspace.feature_files import (BACKEND_FILES, DESCRIPTOR_FILES, FAILURE_COLUMNS, FAILURES, MUSICNN_BACKENDS,
                                     backend_columns, backend_path)
from songspace.parallel import map_ordered, scheduler_address

log = logging.getLogger(__name__)


_LIMITS = None  # threadpool limits held by a worker process
_WARM = False  # per process: librosa/numba compiled functions warmed up once, not per file


def _warm_up(p: AudioParams) -> None:
    global _WARM
    if _WARM:
        return
    y = np.random.default_rng(0).standard_normal(int(p.sr * p.window_s) + p.n_fft).astype(np.float32) * 0.1
    S = audio._power_spec(y, p)
    starts = audio.window_starts(len(y), p.sr, p.window_s, p.hop_s)
    F, tg = audio.frame_descriptors(y, p, S)
    audio.pool_windows(F, tg, starts, p)
    audio.pool_track(F, tg, p)
    audio.logmel_patches(S, starts, p)
    _WARM = True


@functools.lru_cache(maxsize=1)
def _threadpools() -> ThreadpoolController:
    """This process's BLAS/OpenMP libraries, found once: ``threadpool_limits`` scans them on every call
    (~5 ms, per track in a local run)."""
    return ThreadpoolController()


def _limit_worker_threads() -> None:
    """One BLAS/OpenMP thread for the rest of this worker's life (a context manager would race
    between the threads of a threaded Dask worker)."""
    global _LIMITS
    if _LIMITS is None:
        _LIMITS = _threadpools().limit(limits=1)


# audio_backends: "descriptors" = the descriptors + log-mel patches above; the others are pretrained
# embeddings from the same decoded signal (musicnn's models, as ported in songspace.musicnn).
BACKENDS = ("descriptors", *MUSICNN_BACKENDS)
MUSICNN_VERSION = 1  # bump when the musicnn port changes numbers: invalidates its cache entries
MUSICNN_SR = 16000  # Hz, musicnn's input rate


def backend_key(backend: str, p: AudioParams) -> dict:
    """The parameters a musicnn backend's embeddings depend on (cache key): the model, the decode rate,
    the resampling to 16 kHz and how many patches are kept (front end and patch grid are the model's)."""
    return dict(v=MUSICNN_VERSION, model=MUSICNN_BACKENDS[backend], decode_sr=p.sr, sr=MUSICNN_SR,
                resampler="soxr-HQ", max_patches=p.musicnn_max_patches)


def _to_16k(y: np.ndarray, sr: int) -> np.ndarray:
    """The decoded signal resampled for musicnn, instead of decoding the file again. soxr (HQ) called
    directly: the resampler ``audio.decode`` uses, without librosa.resample's dispatch overhead."""
    if sr == MUSICNN_SR:
        return y
    return np.ascontiguousarray(soxr.resample(y, sr, MUSICNN_SR, quality="HQ"), dtype=np.float32)


def _musicnn_part(backend: str, y16: np.ndarray, max_patches: int | None, in_worker: bool) -> dict:
    """One track's musicnn embeddings: ``pen`` (n_patches, 200), ``tags`` (n_patches, 50), ``starts_s`` (s).

    Torch runs on one thread: tracks are parallel across processes. A worker keeps that setting;
    in the caller's own process the previous one is restored."""
    import torch

    from songspace import musicnn

    model = musicnn.load(MUSICNN_BACKENDS[backend])  # read once per process (module-level cache)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        e = model.embed(y16, max_patches=max_patches)
    finally:
        if not in_worker:
            torch.set_num_threads(n)
    return dict(pen=e["penultimate"], tags=e["tags"], starts_s=e["patch_starts_s"])


def _parts(backends) -> list[str]:
    """Cached parts that ``backends`` need: ``desc`` and ``logmel`` for descriptors, else the backend's name."""
    return (["desc", "logmel"] if "descriptors" in backends else []) + [b for b in backends if b != "descriptors"]


def _keys(path, p: AudioParams, parts: list[str]) -> dict:
    """Cache key of each part: content hash of the file + hash of the parameters the part depends on."""
    h = file_hash(path)[:32]
    keys = dict(desc=f"desc-{h}-{params_hash(p.descriptor_key())}",
                logmel=f"logmel-{h}-{params_hash(p.logmel_key())}")
    keys.update({b: f"{b}-{h}-{params_hash(backend_key(b, p))}" for b in MUSICNN_BACKENDS})
    return {k: keys[k] for k in parts}


def _compute(path, p: AudioParams, cache, keys: dict, got: dict, in_worker: bool) -> dict:
    """Decode once and compute (and cache) every part of ``got`` that is None."""
    missing = [k for k, v in got.items() if v is None]
    spectral = "desc" in missing or "logmel" in missing
    if spectral:
        _warm_up(p)
    y = audio.decode(path, p.sr)
    starts = audio.check_usable(y, path, p)
    S = audio._power_spec(y, p) if spectral else None
    y16 = None
    for part in missing:
        if part == "desc":
            F, tg = audio.frame_descriptors(y, p, S)
            got[part] = dict(starts=starts, n_samples=np.int64(len(y)),
                             desc_windows=audio.pool_windows(F, tg, starts, p), desc_track=audio.pool_track(F, tg, p))
        elif part == "logmel":
            got[part] = dict(logmel=audio.logmel_patches(S, starts, p))
        else:
            y16 = _to_16k(y, p.sr) if y16 is None else y16
            got[part] = dict(_musicnn_part(part, y16, p.musicnn_max_patches, in_worker), n_samples=np.int64(len(y)))
        if cache:
            cache.put(keys[part], **got[part])
    return got


def track_features(job: dict) -> dict:
    """Worker: features of one track, from the cache where possible.

    Parameters
    ----------
    job : dict
        ``track_id``, ``path``, ``params`` (``AudioParams.as_dict()``), ``cache_dir`` (str or None),
        ``backends`` (default ``["descriptors"]``), ``in_worker`` (bool).

    Returns
    -------
    dict with ``track_id``, ``path``, flag ``decoded`` and either ``problem``/``detail`` (unusable audio)
    or, with descriptors: flags ``desc_cached``, ``logmel_cached``, ``starts`` (n_windows,) samples,
    ``n_samples``, ``desc_windows`` (n_windows, n_desc), ``desc_track`` (n_desc,), ``logmel`` (n_windows,
    n_mels, patch_frames); per musicnn backend ``b``: flag ``<b>_cached`` and ``<b>`` = dict(``pen``
    (n_patches, 200), ``tags`` (n_patches, 50), ``starts_s`` (n_patches,) s, ``n_samples``).
    """
    p = AudioParams(**job["params"])
    path, cache_dir = job["path"], job.get("cache_dir")
    parts = _parts(job.get("backends", ["descriptors"]))
    out = dict(track_id=job["track_id"], path=path, decoded=False)
    try:
        if not os.path.isfile(path):
            raise AudioError(path, "missing_file", "no such file")
        cache = NpzCache(cache_dir) if cache_dir else None
        keys = _keys(path, p, parts) if cache else {}  # hashing reads the whole file: only with a cache
        got = {part: cache.get(keys[part]) if cache else None for part in parts}
        out.update({f"{part}_cached": got[part] is not None for part in parts})
        if any(v is None for v in got.values()):  # decode is shared by whichever parts missed
            out["decoded"] = True
            # parallel across tracks: BLAS threads would only oversubscribe, and 1 thread everywhere
            # keeps results bit-identical between local and Dask runs
            if job.get("in_worker"):
                _limit_worker_threads()
                got = _compute(path, p, cache, keys, got, True)
            else:
                with _threadpools().limit(limits=1):
                    got = _compute(path, p, cache, keys, got, False)
        if "desc" in got:
            out.update(got["desc"], logmel=got["logmel"]["logmel"])
        out.update({part: got[part] for part in parts if part in MUSICNN_BACKENDS})
    except AudioError as e:
        out.update(problem=e.problem, detail=e.detail)
    except Exception as e:  # a bug, not bad input: stop the batch, but say which file
        raise RuntimeError(f"{path}: feature extraction failed: {type(e).__name__}: {e}") from e
    return out


def _check_backends(audio_backends) -> list[str]:
    backends = list(dict.fromkeys([audio_backends] if isinstance(audio_backends, str) else audio_backends))
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise ValueError(f"unknown audio backend(s) {unknown}; expected some of {list(BACKENDS)}")
    for b in backends:
        if b in MUSICNN_BACKENDS:  # fail here, not in every worker, when musicnn is not installed
            from songspace import musicnn

            musicnn.checkpoint_prefix(MUSICNN_BACKENDS[b])
    return backends


def extract_audio(tracks: pd.DataFrame, params: AudioParams | None = None, out_dir=".", n_jobs: int = -1,
                  scheduler: str | None = None, cache_dir=None, progress: bool = True,
                  audio_backends=("descriptors",)) -> dict:
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

    Returns
    -------
    stats : dict
        ``n_tracks``, ``n_ok``, ``n_failed``, ``decoded``, ``audio_s`` (seconds of audio), ``wall_s``,
        ``x_realtime``; with descriptors ``n_windows``, ``desc_computed``, ``desc_cached``,
        ``logmel_computed``, ``logmel_cached``; per musicnn backend ``<b>_computed``, ``<b>_cached``,
        ``<b>_patches``. When no track gives features (every file damaged, silent or too short), only
        ``audio_failures.csv`` is written, earlier outputs are removed, and ``n_ok`` is 0: each file's
        problem is a row there, as the validation report of a batch (``data.read_report`` merges them).
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
    missing = {"track_id", "audio_path", "has_audio"} - set(tracks.columns)
    if missing:
        raise ValueError(f"tracks table lacks column(s) {sorted(missing)}")
    rows = tracks[tracks["has_audio"].astype(bool)]
    in_worker = n_jobs != 1 or scheduler_address(scheduler) is not None
    jobs = [dict(track_id=str(t), path=str(a), params=p.as_dict(), cache_dir=str(cache_dir) if cache_dir else None,
                 in_worker=in_worker, backends=backends) for t, a in zip(rows["track_id"], rows["audio_path"])]
    names = audio.descriptor_names(p)
    stats = dict(n_tracks=len(jobs), n_ok=0, n_failed=0, decoded=0, audio_s=0.0)
    if desc_on:
        stats.update(n_windows=0, desc_computed=0, desc_cached=0, logmel_computed=0, logmel_cached=0)
    for b in backends:
        if b in MUSICNN_BACKENDS:
            stats.update({f"{b}_computed": 0, f"{b}_cached": 0, f"{b}_patches": 0})
    dtrack, fails = [], []
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
            _remove_outputs(out_dir, backends)
            log.error("no track gave audio features: %d failed, see %s", stats["n_failed"],
                      out_dir / FAILURES)
            return stats
        if desc_on:
            _npy_from_spool(tmp["logmel.npy"], spool, (stats["n_windows"], p.n_mels, p.patch_frames))
            atomic_to_parquet(pd.DataFrame(dtrack), out_dir / "descriptors_tracks.parquet")
            for name, path in tmp.items():
                os.replace(path, out_dir / name)
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


