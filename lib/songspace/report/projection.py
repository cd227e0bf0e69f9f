"""2-D maps of a latent matrix (UMAP, t-SNE), computed once and cached by content + parameters.

The report reads the cached maps instead of recomputing them: UMAP is slow to import and
not bit-identical across machines even with a seed.

The method is chosen by size: up to ``EXACT_MAX`` points UMAP / t-SNE run on every point; above it
they are fitted on a seeded subsample of ``FIT_N`` points and the other points are placed in that
map (UMAP: ``UMAP.transform``; t-SNE, which has no transform: the distance-weighted mean of the map
positions of the ``PLACE_K`` nearest fitted points). ``method_used`` says which ran
(``umap-subsample`` / ``tsne-subsample``), so a 50 000-song map takes about as long as a 5 000-song fit
plus a nearest-neighbour pass instead of growing with n.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm import (
    tqdm,  # text bar: tqdm.auto would want ipywidgets (not installed) in notebooks
)

from songspace.cache import NpzCache, library_versions, params_hash

log = logging.getLogger(__name__)

METHODS = ("umap", "tsne", "pca")
MIN_N = 5  # below this, neighbourhood methods are meaningless: fall back to PCA and say so
EXACT_MAX = 5000  # above this many points UMAP / t-SNE are fitted on a subsample of FIT_N points
FIT_N = 5000
PLACE_K = 10  # neighbours whose map positions place a point not in the t-SNE subsample


def array_hash(X: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (hex)."""
    X = np.ascontiguousarray(X)
    h = hashlib.sha256(f"{X.dtype.str}{X.shape}".encode())
    h.update(X.tobytes())
    return h.hexdigest()


def _pca(X, seed):
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(X)


def _tsne(X, seed, params):
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=params["perplexity"], init="pca", random_state=seed).fit_transform(X)


@functools.lru_cache(maxsize=1)
def umap_module():
    """``umap``, imported once, with its numba kernels cached on disk.

    umap-learn 0.5.12 compiles its neighbour-graph and layout kernels without ``cache=True``, so every
    process that fitted a map spent ~12 s compiling them (upstream: lmcinnes/umap#1257, not merged).
    Caching them (numba's own ``enable_caching``, what ``cache=True`` does) lets a later process load them
    in under a second, with the same maps. ``tools/warm.py`` fills the cache once, serially, at ``make env``.
    """
    import sys

    import umap  # first import ~3 s: only when a map is actually drawn
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if name == "umap" or name.startswith("umap."):
            for f in vars(module).values():
                if isinstance(f, CPUDispatcher) and isinstance(f._cache, NullCache):
                    f.enable_caching()
    return umap


def _umap(X, seed, params):
    umap = umap_module()
    return umap.UMAP(n_components=2, n_neighbors=params["n_neighbors"], min_dist=params["min_dist"],
                     metric=params["metric"], random_state=seed, n_jobs=1)


def place_by_neighbours(X_fit: np.ndarray, coords_fit: np.ndarray, X_new: np.ndarray, k: int = PLACE_K) -> np.ndarray:
    """Map positions of new points: the inverse-distance-weighted mean of their ``k`` nearest fitted points'.

    Parameters
    ----------
    X_fit : np.ndarray, shape (m, d)  points the map was fitted on.
    coords_fit : np.ndarray, shape (m, 2)  their map positions.
    X_new : np.ndarray, shape (r, d)

    Returns
    -------
    np.ndarray, shape (r, 2)
    """
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(X_fit))
    dist, idx = NearestNeighbors(n_neighbors=k).fit(X_fit).kneighbors(X_new)
    w = 1.0 / np.maximum(dist, 1e-12)
    return (coords_fit[idx] * w[..., None]).sum(axis=1) / w.sum(axis=1, keepdims=True)


def fit_subsample(n: int, seed: int, fit_n: int) -> np.ndarray:
    """Sorted indices (fit_n,) of the seeded subsample a large map is fitted on."""
    return np.sort(np.random.default_rng(seed).choice(n, size=fit_n, replace=False))


def _compute(X: np.ndarray, method: str, seed: int, params: dict) -> np.ndarray:
    if method == "pca":
        return _pca(X, seed)
    if method == "tsne":
        return _tsne(X, seed, params)
    if method == "umap":
        return _umap(X, seed, params).fit_transform(X)
    if method in ("tsne-subsample", "umap-subsample"):
        fit = fit_subsample(len(X), seed, params["fit_n"])
        rest = np.setdiff1d(np.arange(len(X)), fit)
        coords = np.empty((len(X), 2), dtype=np.float64)
        if method == "umap-subsample":
            model = _umap(X[fit], seed, params)
            coords[fit] = model.fit_transform(X[fit])
            coords[rest] = model.transform(X[rest])
        else:
            coords[fit] = _tsne(X[fit], seed, params)
            coords[rest] = place_by_neighbours(X[fit], coords[fit], X[rest], params["place_k"])
        return coords
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def choose_method(method: str, n: int) -> tuple[str, str]:
    """What runs for ``method`` on ``n`` points, and why it differs from the request ("" if not).

    PCA below ``MIN_N`` points, the subsample variant above ``EXACT_MAX``, else ``method`` itself.
    """
    if method != "pca" and n < MIN_N:
        return "pca", f"n={n} < {MIN_N} points: {method} is meaningless, used PCA instead"
    if method != "pca" and n > EXACT_MAX:
        return (f"{method}-subsample", f"n={n} > {EXACT_MAX} points: {method} fitted on a seeded subsample of "
                f"{min(FIT_N, n)} points, the others placed in that map")
    return method, ""


def embed_2d(X: np.ndarray, method: str = "umap", seed: int = 0, cache_path: str | os.PathLike | None = None,
             perplexity: float = 30.0, n_neighbors: int = 15, min_dist: float = 0.1,
             metric: str = "euclidean") -> tuple[np.ndarray, dict]:
    """Project a latent matrix to 2-D with UMAP, t-SNE or PCA.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
        Latent vectors (one row per window, track or song), finite, ``d >= 2``.
    method : {"umap", "tsne", "pca"}
        Asked for; above ``EXACT_MAX`` points UMAP and t-SNE run on a subsample (:func:`choose_method`).
    seed : int
        Random state of the projection (and of the subsample).
    cache_path : path, optional
        Folder of an :class:`songspace.cache.NpzCache`; the entry is keyed by the hash of ``X``
        and of every parameter, so a second call with the same input is read, not recomputed.
    perplexity : float
        t-SNE perplexity; capped at ``(n - 1) / 3`` for small ``n``.
    n_neighbors, min_dist, metric
        UMAP parameters; ``n_neighbors`` is capped at ``n - 1``.

    Returns
    -------
    coords : np.ndarray, shape (n, 2), float32
    info : dict
        ``method`` (asked), ``method_used`` (what ran: the method, ``pca`` for tiny n, or
        ``<method>-subsample`` above ``EXACT_MAX`` points, see the module docstring),
        ``reason`` (why they differ, or ""),
        ``params`` (effective parameters), ``cache_hit`` (bool), ``key`` (cache key).
        For ``n < 5`` the method used is PCA, never silently: ``method_used == "pca"`` and
        ``reason`` says so.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] < 2:
        raise ValueError(f"X must have shape (n, d) with d >= 2, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"X has {int((~np.isfinite(X)).sum())} non-finite values (NaN/inf)")
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 rows to embed, got {n}")

    used, reason = choose_method(method, n)
    params = {}
    if used == "pca" and reason:
        log.warning("2-D map: %s", reason)
    elif reason:
        log.info("2-D map: %s", reason)
    n_fit = min(FIT_N, n) if used.endswith("-subsample") else n
    if used.startswith("tsne"):
        params["perplexity"] = float(min(perplexity, (n_fit - 1) / 3))
    elif used.startswith("umap"):
        params.update(n_neighbors=int(min(n_neighbors, n_fit - 1)), min_dist=float(min_dist), metric=metric)
    if used == "tsne-subsample":
        params["place_k"] = PLACE_K
    if used.endswith("-subsample"):
        params["fit_n"] = n_fit

    info = {"method": method, "method_used": used, "reason": reason, "params": params, "seed": int(seed)}
    libs = library_versions("umap-learn", "scikit-learn", "numpy")
    key = f"{used}-{array_hash(X)[:16]}-{params_hash({'params': params, 'seed': int(seed), 'libs': libs})}"
    info["key"] = key

    cache = NpzCache(cache_path) if cache_path is not None else None
    if cache is not None:
        hit = cache.get(key)
        if hit is not None and hit.get("coords", np.empty(0)).shape == (n, 2):
            log.debug("2-D map %s of %d points: read from the cache", used, n)
            return hit["coords"], {**info, "cache_hit": True}

    t0 = time.perf_counter()
    coords = np.asarray(_compute(X, used, int(seed), params), dtype=np.float32)
    log.info("2-D map %s of %d points computed in %.1f s", used, n, time.perf_counter() - t0)
    if cache is not None:
        cache.put(key, coords=coords, info=np.array(json.dumps(info)))
    return coords, {**info, "cache_hit": False}


def embed_many(X: np.ndarray, methods: Sequence[str] = ("umap", "tsne"), seed: int = 0,
               cache_dir: str | os.PathLike | None = None, progress: bool = True,
               **kw) -> dict[str, tuple[np.ndarray, dict]]:
    """Several 2-D maps of one matrix, with a tqdm bar over the methods (UMAP and t-SNE take seconds
    to minutes each).

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
    methods : sequence of str
        Any of :data:`METHODS`.
    seed : int
    cache_dir : path, optional
        Folder of one :class:`songspace.cache.NpzCache` per method (``cache_dir/<method>``).
    progress : bool
        Show the bar.
    **kw
        Passed to :func:`embed_2d` (perplexity, n_neighbors, min_dist, metric).

    Returns
    -------
    dict method -> (coords, info), as :func:`embed_2d` returns them.
    """
    out = {}
    bar = tqdm(list(methods), desc="2-D maps", unit="map", disable=not progress)
    for method in bar:
        bar.set_postfix_str(method)
        cache = Path(cache_dir) / method if cache_dir is not None else None
        out[method] = embed_2d(X, method, seed=seed, cache_path=cache, **kw)
    return out


def save_maps(reps: dict, tracks: pd.DataFrame, out_dir, seed: int = 0, k_column: str | None = None,
              methods=("umap", "tsne")) -> list[Path]:
    """2-D maps of song-level latents for the report, computed once (cached by content and parameters).

    For each ``name -> Representation`` (None entries skipped): average per song, K-Means with k = number of
    ``k_column`` classes among those songs (no column: k chosen by silhouette), then one map per method,
    written atomically as ``out_dir/<name>_<method>.parquet`` (track_id, x, y, cluster, method_used).
    Representations of fewer than ``plan.MIN_SONGS`` songs are skipped.
    """
    from songspace.cache import atomic_to_parquet
    from songspace.data.plan import MIN_SONGS
    from songspace.evaluation import cluster

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_of = tracks.set_index(tracks["track_id"].astype(str))[k_column] if k_column else None
    written = []
    for name, rep in reps.items():
        if rep is None:
            continue
        Xs, ids = cluster.aggregate_by_song(np.asarray(rep.X), rep.track_ids)
        if len(ids) < MIN_SONGS:
            continue
        k = max(int(labels_of.loc[ids].nunique()), 2) if labels_of is not None else None
        labels = cluster.fit_predict(Xs, "kmeans", k=k, seed=seed)
        for method in methods:
            coords, info = embed_2d(Xs, method=method, seed=seed, cache_path=out_dir / f"{name}_{method}.npz")
            path = out_dir / f"{name}_{method}.parquet"
            atomic_to_parquet(pd.DataFrame({"track_id": ids, "x": coords[:, 0], "y": coords[:, 1], "cluster": labels,
                                            "method_used": info["method_used"]}), path)
            written.append(path)
    for stale in set(out_dir.glob("*.parquet")) - set(written):  # maps of an earlier run's representations
        stale.unlink()
    return written
