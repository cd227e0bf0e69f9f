"""The work of one track, run in a worker: decode once, then descriptors, log-mel patches and each musicnn
backend, each cached by the file's content hash and the parameters it depends on.

Workers limit their BLAS threads and warm compiled code once per process (``_warm_up``).
"""
from __future__ import annotations

import functools
import os

import numpy as np
import soxr
from threadpoolctl import ThreadpoolController

from songspace.cache import (
    NpzCache,
    file_hash,
    library_versions,
    params_hash,
)
from songspace.features import audio, descriptors, formats
from songspace.features.audio import AudioError, AudioParams
from songspace.features.saved import (
    MUSICNN_BACKENDS,
)

_LIMITS = None  # threadpool limits held by a worker process
_WARM = False  # per process: librosa/numba compiled functions warmed up once, not per file


def _warm_up(p: AudioParams) -> None:
    global _WARM
    if _WARM:
        return
    y = np.random.default_rng(0).standard_normal(int(p.sr * p.window_s) + p.n_fft).astype(np.float32) * 0.1
    S = descriptors._power_spec(y, p)
    starts = audio.window_starts(len(y), p.sr, p.window_s, p.hop_s)
    F, tg = descriptors.frame_descriptors(y, p, S)
    descriptors.pool_windows(F, tg, starts, p)
    descriptors.pool_track(F, tg, p)
    descriptors.logmel_patches(S, starts, p)
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
# embeddings from the same decoded signal (musicnn's models, as ported in songspace.features.musicnn).
BACKENDS = ("descriptors", *MUSICNN_BACKENDS)
MUSICNN_VERSION = 2  # bump when the musicnn port or its input changes: invalidates its cache entries
# (2: a float file above full scale is rescaled; entries carry the decode's notes)
MUSICNN_SR = 16000  # Hz, musicnn's input rate


def backend_key(backend: str, p: AudioParams) -> dict:
    """The parameters a musicnn backend's embeddings depend on (cache key): the model, the decode rate,
    the resampling to 16 kHz and how many patches are kept (front end and patch grid are the model's)."""
    return dict(v=MUSICNN_VERSION, model=MUSICNN_BACKENDS[backend], decode_sr=p.sr, sr=MUSICNN_SR,
                resampler="soxr-HQ", max_patches=p.musicnn_max_patches,
                libs={**audio.decode_libraries(), **library_versions("torch", "musicnn")})


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

    from songspace.features import musicnn

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
    """Cache key of each part: content hash of the file + hash of the parameters the part depends on, the
    decoder among them: the file's name can choose it (an Ogg Opus file named .opus or .ogg), and two decoders'
    samples differ."""
    h = file_hash(path)[:32]
    decoder = {"decoder": formats.decoder_for(path)}
    keys = dict(desc=f"desc-{h}-{params_hash({**p.descriptor_key(), **decoder})}",
                logmel=f"logmel-{h}-{params_hash({**p.logmel_key(), **decoder})}")
    keys.update({b: f"{b}-{h}-{params_hash({**backend_key(b, p), **decoder})}" for b in MUSICNN_BACKENDS})
    return {k: keys[k] for k in parts}


def _compute(path, p: AudioParams, cache, keys: dict, got: dict, in_worker: bool) -> dict:
    """Decode once and compute (and cache) every part of ``got`` that is None."""
    missing = [k for k, v in got.items() if v is None]
    spectral = "desc" in missing or "logmel" in missing
    if spectral:
        _warm_up(p)
    y, notes = audio.decode_checked(path, p.sr, p.window_s)
    starts = audio.check_usable(y, path, p)
    # the decode's caveats (truncated, rescaled) travel with every cached part, so a cache hit reports them too
    noted = np.array([f"{a}\t{b}" for a, b in notes], dtype=str)
    S = descriptors._power_spec(y, p) if spectral else None
    y16 = None
    for part in missing:
        if part == "desc":
            F, tg = descriptors.frame_descriptors(y, p, S)
            got[part] = dict(starts=starts, n_samples=np.int64(len(y)), notes=noted,
                             desc_windows=descriptors.pool_windows(F, tg, starts, p), desc_track=descriptors.pool_track(F, tg, p))
        elif part == "logmel":
            got[part] = dict(logmel=descriptors.logmel_patches(S, starts, p), notes=noted)
        else:
            y16 = _to_16k(y, p.sr) if y16 is None else y16
            got[part] = dict(_musicnn_part(part, y16, p.musicnn_max_patches, in_worker), n_samples=np.int64(len(y)),
                             notes=noted)
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
    or ``notes`` (list of (problem, detail): audio used with a caveat, see ``audio.decode_checked``) and, with descriptors: flags ``desc_cached``, ``logmel_cached``, ``starts`` (n_windows,) samples,
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
        if not os.access(path, os.R_OK):  # it became unreadable after 00 checked it
            raise AudioError(path, "unreadable_audio", "cannot be opened (permission denied)")
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
        first = got[parts[0]]
        out["notes"] = [tuple(str(n).split("\t", 1)) for n in first.get("notes", ())]
        if "desc" in got:
            out.update({k: v for k, v in got["desc"].items() if k != "notes"}, logmel=got["logmel"]["logmel"])
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
            from songspace.features import musicnn_net

            musicnn_net.checkpoint_prefix(MUSICNN_BACKENDS[b])
    return backends
