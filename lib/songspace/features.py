"""Audio feature extraction for a tracks table: windows, pooled descriptors, log-mel patches.

Each track is decoded once in a worker; descriptors and log-mel patches are cached separately,
each keyed by the file's content hash and only the parameters it depends on. The parent streams
results to disk in track order, so memory does not grow with the corpus.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits  # via scikit-learn

from songspace import audio
from songspace.audio import AudioError, AudioParams
from songspace.cache import (NpzCache, atomic_to_csv, atomic_to_parquet, atomic_write_text, file_hash, params_hash,
                             remove_stale_temps, temp_prefix)
from songspace.parallel import map_tracks, scheduler_address

FAILURE_COLUMNS = ["track_id", "modality", "problem", "detail", "path"]
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


def _limit_worker_threads() -> None:
    """One BLAS/OpenMP thread for the rest of this worker's life (a context manager would race
    between the threads of a threaded Dask worker)."""
    global _LIMITS
    if _LIMITS is None:
        _LIMITS = threadpool_limits(limits=1)


def _compute(path, p: AudioParams, cache, key_d, key_l, d, lm):
    """Decode once and compute (and cache) whichever of descriptors ``d`` / log-mel ``lm`` is None."""
    _warm_up(p)
    y = audio.decode(path, p.sr)
    starts = audio.check_usable(y, path, p)
    S = audio._power_spec(y, p)
    if d is None:
        F, tg = audio.frame_descriptors(y, p, S)
        d = dict(starts=starts, n_samples=np.int64(len(y)),
                 desc_windows=audio.pool_windows(F, tg, starts, p), desc_track=audio.pool_track(F, tg, p))
        if cache:
            cache.put(key_d, **d)
    if lm is None:
        lm = dict(logmel=audio.logmel_patches(S, starts, p))
        if cache:
            cache.put(key_l, **lm)
    return d, lm


def track_features(job: dict) -> dict:
    """Worker: features of one track, from the cache where possible.

    Parameters
    ----------
    job : dict
        ``track_id``, ``path``, ``params`` (``AudioParams.as_dict()``), ``cache_dir`` (str or None).

    Returns
    -------
    dict with ``track_id``, ``path``, flags ``decoded``, ``desc_cached``, ``logmel_cached`` and either
    ``problem``/``detail`` (unusable audio) or ``starts`` (n_windows,) samples, ``n_samples``,
    ``desc_windows`` (n_windows, n_desc), ``desc_track`` (n_desc,), ``logmel`` (n_windows, n_mels, patch_frames).
    """
    p = AudioParams(**job["params"])
    path, cache_dir = job["path"], job.get("cache_dir")
    out = dict(track_id=job["track_id"], path=path, decoded=False, desc_cached=False, logmel_cached=False)
    try:
        if not os.path.isfile(path):
            raise AudioError(path, "missing_file", "no such file")
        cache = NpzCache(cache_dir) if cache_dir else None
        key_d = key_l = d = lm = None
        if cache:  # hashing reads the whole file: only worth it when there is a cache to key
            h = file_hash(path)[:32]
            key_d = f"desc-{h}-{params_hash(p.descriptor_key())}"
            key_l = f"logmel-{h}-{params_hash(p.logmel_key())}"
            d, lm = cache.get(key_d), cache.get(key_l)
        out["desc_cached"], out["logmel_cached"] = d is not None, lm is not None
        if d is None or lm is None:  # decode is shared by whichever part missed
            out["decoded"] = True
            # parallel across tracks: BLAS threads would only oversubscribe, and 1 thread everywhere
            # keeps results bit-identical between local and Dask runs
            if job.get("in_worker"):
                _limit_worker_threads()
                d, lm = _compute(path, p, cache, key_d, key_l, d, lm)
            else:
                with threadpool_limits(limits=1):
                    d, lm = _compute(path, p, cache, key_d, key_l, d, lm)
        out.update(d, logmel=lm["logmel"])
    except AudioError as e:
        out.update(problem=e.problem, detail=e.detail)
    except Exception as e:  # a bug, not bad input: stop the batch, but say which file
        raise RuntimeError(f"{path}: feature extraction failed: {type(e).__name__}: {e}") from e
    return out


def extract_audio(tracks: pd.DataFrame, params: AudioParams | None = None, out_dir=".", n_jobs: int = -1,
                  scheduler: str | None = None, cache_dir=None, progress: bool = True) -> dict:
    """Extract windows, descriptors and log-mel patches of every track with audio.

    Parameters
    ----------
    tracks : pd.DataFrame
        Columns ``track_id``, ``audio_path``, ``has_audio`` (rows without audio are skipped).
    params : AudioParams, optional
    out_dir : path
        Receives ``windows.parquet`` (track_id, window, start_s, end_s), ``descriptors_windows.parquet``,
        ``descriptors_tracks.parquet``, ``logmel.npy`` (n_windows, n_mels, patch_frames) float32 dB,
        ``audio_failures.csv`` and ``features.json`` (parameters and run stats).
    n_jobs : int
        Local worker processes (-1 = all cores).
    scheduler : str, optional
        dask.distributed scheduler address (else ``$SONGSPACE_DASK_SCHEDULER``, else local).
        Workers run BLAS/OpenMP on one thread (with an in-process ``LocalCluster(processes=False)``
        that limit stays on in this process).
    cache_dir : path, optional
        Per-track cache (default ``out_dir/cache``); ``False`` disables caching.

    Returns
    -------
    stats : dict
        ``n_tracks``, ``n_ok``, ``n_failed``, ``n_windows``, ``decoded``, ``desc_computed``, ``desc_cached``,
        ``logmel_computed``, ``logmel_cached``, ``audio_s`` (seconds of audio), ``wall_s``, ``x_realtime``.
    """
    t_start = time.perf_counter()
    p = params or AudioParams()
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
                 in_worker=in_worker) for t, a in zip(rows["track_id"], rows["audio_path"])]
    names = audio.descriptor_names(p)
    stats = dict(n_tracks=len(jobs), n_ok=0, n_failed=0, n_windows=0, decoded=0, desc_computed=0, desc_cached=0,
                 logmel_computed=0, logmel_cached=0, audio_s=0.0)
    dtrack, fails = [], []
    # Per-window tables and log-mel patches go to disk track by track (parquet row groups, a raw
    # spool), so memory does not grow with the corpus; the final files appear only at the end.
    tmp = {name: _tmp_path(out_dir, name) for name in ("windows.parquet", "descriptors_windows.parquet", "logmel.npy")}
    spool = _tmp_path(out_dir, "logmel.spool")
    writers, buffer, buffered = {}, [], 0
    try:
        with open(spool, "wb") as f:
            for r in map_tracks(track_features, jobs, n_jobs=n_jobs, scheduler=scheduler, desc="audio features",
                                progress=progress):
                stats["decoded"] += r["decoded"]
                if "problem" in r:
                    stats["n_failed"] += 1
                    fails.append(dict(track_id=r["track_id"], modality="audio", problem=r["problem"],
                                      detail=r["detail"], path=r["path"]))
                    continue
                stats["n_ok"] += 1
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
        atomic_to_csv(failures, out_dir / "audio_failures.csv")
        if not stats["n_ok"]:
            raise ValueError(f"no track gave audio features ({stats['n_failed']} failed, "
                             f"see {out_dir / 'audio_failures.csv'})")
        # logmel.npy = an .npy header + the spool's bytes, copied with plain reads (no memmap page cache)
        shape = (stats["n_windows"], p.n_mels, p.patch_frames)
        with open(tmp["logmel.npy"], "wb") as out, open(spool, "rb") as src:
            np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                       "fortran_order": False, "shape": shape})
            shutil.copyfileobj(src, out, 1 << 24)
        atomic_to_parquet(pd.DataFrame(dtrack), out_dir / "descriptors_tracks.parquet")
        for name, path in tmp.items():
            os.replace(path, out_dir / name)
        stats["wall_s"] = time.perf_counter() - t_start
        stats["x_realtime"] = stats["audio_s"] / stats["wall_s"]
        atomic_write_text(out_dir / "features.json",
                          json.dumps(dict(params=p.as_dict(), descriptors=names, stats=stats), indent=1))
    finally:
        for w in writers.values():
            w.close()
        for path in [spool, *tmp.values()]:
            Path(path).unlink(missing_ok=True)
    return stats


def _tmp_path(out_dir: Path, name: str) -> Path:
    fd, path = tempfile.mkstemp(dir=out_dir, prefix=temp_prefix(name), suffix=".tmp")
    os.close(fd)
    return Path(path)


FLUSH_WINDOWS = 20_000  # windows buffered before a parquet row group is written (~20 MB of descriptors)


def _flush(buffer: list, writers: dict, tmp: dict, names: list, p: AudioParams) -> None:
    """Write the buffered tracks' windows and descriptors as one row group each, then empty the buffer."""
    if not buffer:
        return
    ids = np.concatenate([np.full(len(s), t, dtype=object) for t, s, _ in buffer])
    window = np.concatenate([np.arange(len(s)) for _, s, _ in buffer])
    start_s = np.concatenate([s for _, s, _ in buffer])
    win = pd.DataFrame(dict(track_id=ids, window=window, start_s=start_s, end_s=start_s + p.window_s))
    desc = pd.concat([win[["track_id", "window"]],
                      pd.DataFrame(np.vstack([d for _, _, d in buffer]), columns=names)], axis=1)
    _append(writers, "windows.parquet", tmp, win)
    _append(writers, "descriptors_windows.parquet", tmp, desc)
    buffer.clear()


def _append(writers: dict, name: str, tmp: dict, df: pd.DataFrame) -> None:
    """Append one track's rows to a parquet file as a row group (opened on first use)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    if name not in writers:
        writers[name] = pq.ParquetWriter(tmp[name], table.schema)
    writers[name].write_table(table)


def load_audio_features(out_dir) -> dict:
    """Read what ``extract_audio`` wrote.

    Returns
    -------
    dict with ``windows``, ``descriptors_windows``, ``descriptors_tracks`` (DataFrames),
    ``logmel`` (np.memmap, shape (n_windows, n_mels, patch_frames), float32 dB),
    ``failures`` (DataFrame) and ``meta`` (parameters, descriptor names, stats).
    """
    out_dir = Path(out_dir)
    files = ["windows.parquet", "descriptors_windows.parquet", "descriptors_tracks.parquet", "logmel.npy",
             "audio_failures.csv", "features.json"]
    for name in files:
        if not (out_dir / name).exists():
            raise FileNotFoundError(f"{out_dir / name}: missing; run extract_audio first")
    res = dict(
        windows=pd.read_parquet(out_dir / "windows.parquet"),
        descriptors_windows=pd.read_parquet(out_dir / "descriptors_windows.parquet"),
        descriptors_tracks=pd.read_parquet(out_dir / "descriptors_tracks.parquet"),
        logmel=np.load(out_dir / "logmel.npy", mmap_mode="r"),
        failures=pd.read_csv(out_dir / "audio_failures.csv", dtype={"track_id": str}),
        meta=json.loads((out_dir / "features.json").read_text()),
    )
    n = len(res["windows"])
    if not (res["logmel"].shape[0] == len(res["descriptors_windows"]) == n == res["meta"]["stats"]["n_windows"]):
        raise ValueError(f"{out_dir}: outputs of different runs ({n} windows, logmel {res['logmel'].shape}); "
                         "re-run extract_audio")
    return res


def logmel_stats(logmel: np.ndarray, train_mask: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per-mel-band mean and std of the log-mel patches of training windows only.

    Parameters
    ----------
    logmel : np.ndarray, shape (n_windows, n_mels, patch_frames)
        dB patches (may be a memmap: read in chunks).
    train_mask : np.ndarray of bool, shape (n_windows,)

    Returns
    -------
    mean, std : np.ndarray, shape (n_mels,), float32 (dB)
    """
    train_mask = np.asarray(train_mask, dtype=bool)
    if train_mask.shape != (logmel.shape[0],):
        raise ValueError(f"train_mask has shape {train_mask.shape}, expected ({logmel.shape[0]},)")
    idx = np.flatnonzero(train_mask)
    if len(idx) == 0:
        raise ValueError("train_mask selects no window")
    s = np.zeros(logmel.shape[1]); s2 = np.zeros(logmel.shape[1]); n = 0
    for i in range(0, len(idx), chunk):
        x = np.asarray(logmel[idx[i:i + chunk]], dtype=np.float64)
        s += x.sum(axis=(0, 2)); s2 += (x ** 2).sum(axis=(0, 2)); n += x.shape[0] * x.shape[2]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def normalise(logmel: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Standardise dB patches per mel band.

    Parameters
    ----------
    logmel : np.ndarray, shape (..., n_mels, patch_frames)
    mean, std : np.ndarray, shape (n_mels,)  (from ``logmel_stats`` on the training split)

    Returns
    -------
    np.ndarray, same shape, float32
    """
    return ((np.asarray(logmel, dtype=np.float32) - mean[:, None]) / std[:, None]).astype(np.float32)
