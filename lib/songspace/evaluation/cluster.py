"""Clustering of any representation (features, latents), and song-level aggregation of windows.

Five methods behind one call: ``kmeans``, ``agglomerative`` (Ward), ``dbscan``, ``gmm``, ``spectral``.
Data are standardised (and optionally reduced by PCA) first. DBSCAN noise is labelled -1 and is
never a cluster of its own. When ``k`` is not given it is chosen by silhouette (kmeans,
agglomerative, spectral) or BIC (gmm), and the returned info says which criterion chose it.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.cluster import (
    DBSCAN,
    AgglomerativeClustering,
    KMeans,
    MiniBatchKMeans,
    SpectralClustering,
)
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from songspace.training.scaling import l2_rows

METHODS = ("kmeans", "agglomerative", "dbscan", "gmm", "spectral")
MINIBATCH_ABOVE = 20_000  # rows: KMeans -> MiniBatchKMeans
SUBSAMPLE_ABOVE = 5_000  # rows: agglomerative/spectral fit on a subsample, rest by nearest centroid
SILHOUETTE_SAMPLE = 5_000  # rows used for silhouette when choosing k on large data


NORMS = ("zscore", "l2", "none")


def preprocess(X: np.ndarray, pca_dim: int | None = None, standardize: bool = True,
               norm: str | None = None) -> tuple[np.ndarray, dict]:
    """Normalise a representation as its kind wants, then optionally project on the first principal components.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
    pca_dim : int, optional
        Number of components; capped by ``min(n - 1, d)``. ``None`` keeps all columns.
    standardize : bool
        Shorthand for ``norm="zscore"`` (True) or ``"none"`` (False) when ``norm`` is not given.
    norm : {"zscore", "l2", "none"}, optional
        ``zscore``: each column to zero mean and unit variance (constant columns stay 0), for blocks of
        heterogeneous descriptors. ``l2``: each row to unit length, for embeddings whose geometry is
        in their angles. ``none``: as given (PCA/SVD outputs, latent means, blocks already scaled).

    Returns
    -------
    Xp : np.ndarray, shape (n, d') float64
    info : dict with ``norm``, ``pca_dim`` (the dimension used, or None) and ``explained_variance``.
    """
    X = _check_X(X)
    norm = norm or ("zscore" if standardize else "none")
    if norm == "zscore":
        X = StandardScaler().fit_transform(X)
    elif norm == "l2":
        X = l2_rows(X)
    elif norm != "none":
        raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")
    info: dict = {"norm": norm, "pca_dim": None, "explained_variance": None}
    if pca_dim is not None:
        dim = int(min(pca_dim, X.shape[0] - 1, X.shape[1]))
        if dim < 1:
            raise ValueError(f"pca_dim={pca_dim} impossible with X of shape {X.shape}")
        pca = PCA(n_components=dim, svd_solver="full")  # full SVD: deterministic, no seed needed
        X = pca.fit_transform(X)
        info.update(pca_dim=dim, explained_variance=float(pca.explained_variance_ratio_.sum()))
    return X, info


def fit_projection(X: np.ndarray, pca_dim: int, norm: str) -> tuple[np.ndarray, object]:
    """``preprocess(X, pca_dim, norm=norm)``, and the same steps as a fitted scikit-learn pipeline that maps
    new rows of the same features into its space (how ``assign`` places a new song into a PCA baseline).

    Returns
    -------
    Xp : np.ndarray, shape (n, d'), exactly ``preprocess``'s rows (what is clustered and scored)
    pipeline : ``sklearn.pipeline.Pipeline`` (normalisation, then ``PCA``) fitted on ``X``
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    Xp, info = preprocess(X, pca_dim, norm=norm)
    first = {"zscore": StandardScaler(), "l2": FunctionTransformer(l2_rows), "none": "passthrough"}[norm]
    pipe = make_pipeline(first, PCA(n_components=info["pca_dim"], svd_solver="full")).fit(_check_X(X))
    if not np.allclose(pipe.transform(_check_X(X)), Xp, atol=1e-6):  # both are deterministic fits of one SVD
        raise RuntimeError("the PCA pipeline does not reproduce preprocess's rows")
    return Xp, pipe


def dbscan_eps(X: np.ndarray, min_samples: int) -> tuple[float, np.ndarray]:
    """Choose DBSCAN's eps at the knee of the sorted k-distance curve.

    The k-distance of a point is its distance to its ``min_samples``-th nearest neighbour
    (itself included, as in sklearn's DBSCAN). The knee is the point of the ascending sorted
    curve farthest below the chord joining its ends (maximum curvature, as in Kneedle).

    Returns
    -------
    eps : float
    kdist : np.ndarray, shape (n,) sorted k-distances (for plotting the curve).
    """
    n = X.shape[0]
    k = min(min_samples, n)
    dist, _ = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    kdist = np.sort(dist[:, -1])
    span = kdist[-1] - kdist[0]
    if n < 3 or span <= 0:
        return float(max(kdist[-1], 1e-12)), kdist
    x = np.linspace(0.0, 1.0, n)
    y = (kdist - kdist[0]) / span
    knee = int(np.argmax(x - y))
    return float(max(kdist[knee], 1e-12)), kdist


def default_min_samples(dim: int) -> int:
    """DBSCAN min_samples rule of thumb: 2 x dimension, at least 3, capped at 10 for high dimensions."""
    return int(max(3, min(2 * dim, 10)))


def _check_X(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}")
    if X.shape[0] < 2:
        raise ValueError(f"need at least 2 rows to cluster, got {X.shape[0]}")
    if not np.isfinite(X).all():
        raise ValueError(f"X has {int((~np.isfinite(X)).sum())} non-finite values")
    return X


def _nearest_centroid(X: np.ndarray, idx: np.ndarray, sub_labels: np.ndarray) -> np.ndarray:
    """Labels for all rows: the subsample keeps its labels, the rest go to the nearest subsample centroid."""
    ks = np.unique(sub_labels)
    cents = np.stack([X[idx][sub_labels == c].mean(0) for c in ks])
    d2 = ((X[:, None, :] - cents[None]) ** 2).sum(-1) if X.shape[0] * len(ks) < 5e7 else None
    if d2 is None:  # large: chunk to bound memory
        out = np.empty(X.shape[0], dtype=int)
        for s in range(0, X.shape[0], 10_000):
            out[s:s + 10_000] = ((X[s:s + 10_000, None, :] - cents[None]) ** 2).sum(-1).argmin(1)
        labels = ks[out]
    else:
        labels = ks[d2.argmin(1)]
    labels[idx] = sub_labels
    return labels


def seed_free(method: str, n: int) -> bool:
    """True when ``fit_predict(X, method, k, seed)`` on ``n`` rows gives the same labels for every seed
    (DBSCAN; Ward linkage unless it subsamples), so a table over seeds needs one fit."""
    return method == "dbscan" or (method == "agglomerative" and n <= SUBSAMPLE_ABOVE)


PREDICTS = ("kmeans", "gmm")  # methods whose fitted estimator places new rows itself (``predict``)

# K-Means restarts: 10, or 3 above MANY_CLUSTERS, where restarts change little and cost most. Emotify's album
# (229 classes) and artist (138) on the musicnn embedding, 5 seeds, n_init 10 against 3: AMI 0.225 ± 0.012 /
# 0.225 ± 0.003 and 0.292 ± 0.013 / 0.295 ± 0.009, 0.60 / 0.19 s a fit; on its PCA 0.190 / 0.193 and
# 0.256 / 0.245, inside the spread.
KMEANS_N_INIT, KMEANS_N_INIT_MANY, MANY_CLUSTERS = 10, 3, 50


def _predictor(method: str, k: int, seed: int, n: int, kw: dict):
    """The unfitted estimator of a method with a ``predict`` and the algorithm's name (one definition for
    :func:`_fit` and :func:`fit_predictor`)."""
    if method == "kmeans":
        if n > MINIBATCH_ABOVE:
            return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, **kw), "minibatch_kmeans"
        n_init = kw.pop("n_init", KMEANS_N_INIT if k <= MANY_CLUSTERS else KMEANS_N_INIT_MANY)
        return KMeans(n_clusters=k, random_state=seed, n_init=n_init, **kw), "kmeans"
    kw.setdefault("covariance_type", "diag")  # full covariances are singular for small n, large d
    return GaussianMixture(n_components=k, random_state=seed, n_init=kw.pop("n_init", 3), **kw), "gmm"


def fit_predictor(X: np.ndarray, method: str, k: int, seed: int = 0, **kw):
    """The fitted sklearn estimator behind ``fit_predict(X, method, k, seed, standardize=False)`` for a
    method of :data:`PREDICTS` (its ``predict`` gives the same labels on ``X`` and places new rows);
    None for the others (they have no predict)."""
    if method not in PREDICTS:
        return None
    est, _ = _predictor(method, int(k), seed, len(X), dict(kw))
    return est.fit(_check_X(X))


def _fit(X: np.ndarray, method: str, k: int | None, seed: int, **kw) -> tuple[np.ndarray, dict]:
    """One fit on already preprocessed X."""
    n = X.shape[0]
    info: dict = {"method": method, "algorithm": method}
    if method == "dbscan":
        min_samples = int(kw.pop("min_samples", default_min_samples(X.shape[1])))
        eps = kw.pop("eps", None)
        if eps is None:
            eps, _ = dbscan_eps(X, min_samples)
        labels = DBSCAN(eps=eps, min_samples=min_samples, **kw).fit_predict(X)
        info.update(eps=float(eps), min_samples=min_samples)
        return labels.astype(int), info
    if k is None or not 1 <= k <= n:
        raise ValueError(f"{method}: k must be in [1, {n}], got {k}")
    if method == "kmeans":
        est, info["algorithm"] = _predictor(method, k, seed, n, kw)
        return est.fit_predict(X).astype(int), info
    if method == "gmm":
        est, _ = _predictor(method, k, seed, n, kw)
        labels = est.fit(X).predict(X)
        info.update(bic=float(est.bic(X)), covariance_type=est.covariance_type)
        return labels.astype(int), info
    if method in ("agglomerative", "spectral"):
        idx = np.arange(n)
        if n > SUBSAMPLE_ABOVE:
            idx = np.sort(np.random.default_rng(seed).choice(n, SUBSAMPLE_ABOVE, replace=False))
            info.update(algorithm=f"{method}_subsample+nearest_centroid", subsample=SUBSAMPLE_ABOVE)
        Xs = X[idx]
        if method == "agglomerative":
            est = AgglomerativeClustering(n_clusters=k, linkage="ward", **kw)
        else:
            kw.setdefault("affinity", "nearest_neighbors")
            kw.setdefault("n_neighbors", min(10, len(idx) - 1))
            est = SpectralClustering(n_clusters=k, random_state=seed, **kw)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            # sklearn warns whenever X happens to be square (as many songs as dimensions): X is data here
            warnings.filterwarnings("ignore", message="The spectral clustering API has changed")
            sub = est.fit_predict(Xs).astype(int)
        labels = sub if len(idx) == n else _nearest_centroid(X, idx, sub)
        return labels, info
    raise ValueError(f"unknown clustering method {method!r}; choose one of {METHODS}")


def choose_k(X: np.ndarray, method: str, k_range=None, seed: int = 0, pca_dim: int | None = None,
             standardize: bool = True, **kw) -> tuple[int, pd.DataFrame]:
    """Choose the number of clusters: best silhouette (kmeans/agglomerative/spectral) or lowest BIC (gmm).

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
    method : str
        One of ``kmeans``, ``agglomerative``, ``spectral``, ``gmm`` (DBSCAN sets its own number).
    k_range : iterable of int, optional
        Candidates; default 2..min(10, n - 1). Values outside [2, n - 1] are dropped.
    seed : int
    pca_dim, standardize : see :func:`preprocess`.

    Returns
    -------
    k : int
    table : pd.DataFrame with columns ``k``, ``score``, ``criterion`` (``"silhouette"``, higher is better,
        or ``"bic"``, lower is better); ``table.attrs["criterion"]`` names it too.
    """
    if method == "dbscan":
        raise ValueError("choose_k: DBSCAN finds its own number of clusters; use fit_predict(X, 'dbscan')")
    Xp, _ = preprocess(X, pca_dim, standardize)
    return _choose_k(Xp, method, k_range, seed, **kw)


def _choose_k(X, method, k_range, seed, **kw):
    n = X.shape[0]
    ks = [int(k) for k in (k_range if k_range is not None else range(2, min(10, n - 1) + 1)) if 2 <= k <= n - 1]
    if not ks:
        raise ValueError(f"choose_k: no candidate k in [2, {n - 1}] (n={n})")
    criterion = "bic" if method == "gmm" else "silhouette"
    rows = []
    for k in ks:
        labels, info = _fit(X, method, k, seed, **dict(kw))
        if criterion == "bic":
            score = info["bic"]
        elif len(np.unique(labels)) < 2:
            score = np.nan
        else:
            sample = min(n, SILHOUETTE_SAMPLE)
            score = float(silhouette_score(X, labels, sample_size=sample if sample < n else None, random_state=seed))
        rows.append({"k": k, "score": score, "criterion": criterion})
    table = pd.DataFrame(rows)
    table.attrs["criterion"] = criterion
    scores = table["score"].to_numpy(dtype=float)
    if np.isnan(scores).all():
        raise ValueError(f"choose_k: {criterion} undefined for every k in {ks}")
    best = np.nanargmin(scores) if criterion == "bic" else np.nanargmax(scores)
    return int(table["k"].iloc[best]), table


def fit_predict(X: np.ndarray, method: str, k: int | None = None, seed: int = 0, pca_dim: int | None = None,
                standardize: bool = True, return_info: bool = False, k_range=None, **kw):
    """Cluster the rows of X.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
        Any representation (features, latent means, embeddings), one row per item.
    method : str
        ``kmeans``, ``agglomerative`` (Ward), ``dbscan``, ``gmm`` or ``spectral``.
    k : int, optional
        Number of clusters. ``None``: chosen by :func:`choose_k` over ``k_range`` (silhouette, or BIC for
        gmm). Ignored by DBSCAN, whose eps comes from the k-distance knee (:func:`dbscan_eps`) unless
        ``eps=`` is passed, and whose ``min_samples`` defaults to :func:`default_min_samples`.
    seed : int
    pca_dim : int, optional
        PCA dimension after standardising (capped by n - 1).
    standardize : bool
        Z-score columns first (turn off when X is already preprocessed).
    return_info : bool
        Also return a dict: ``method``, ``algorithm`` actually run (e.g. ``minibatch_kmeans`` above
        20k rows, ``agglomerative_subsample+nearest_centroid`` above 5k rows), ``k``, ``k_criterion``
        (``given``, ``silhouette``, ``bic`` or ``dbscan``), ``pca_dim``, DBSCAN ``eps``/``min_samples``,
        ``n_clusters`` (noise excluded), ``noise_fraction``.
    **kw
        Passed to the sklearn estimator.

    Returns
    -------
    labels : np.ndarray, shape (n,) int; -1 marks DBSCAN noise (never counted as a cluster).
    info : dict, only if ``return_info``.
    """
    Xp, pinfo = preprocess(X, pca_dim, standardize)
    criterion = "given"
    if method == "dbscan":
        criterion = "dbscan"
    elif k is None:
        k, _ = _choose_k(Xp, method, k_range, seed, **dict(kw))
        criterion = "bic" if method == "gmm" else "silhouette"
    labels, info = _fit(Xp, method, k, seed, **kw)
    if not return_info:
        return labels
    info.update(pinfo)
    info.update(k=None if method == "dbscan" else int(k), k_criterion=criterion,
                n_clusters=int(len(np.unique(labels[labels >= 0]))),
                noise_fraction=float(np.mean(labels < 0)))
    return labels, info


def aggregate_by_song(Z: np.ndarray, track_ids) -> tuple[np.ndarray, np.ndarray]:
    """Average window-level vectors (e.g. latent means) into one vector per song.

    Parameters
    ----------
    Z : np.ndarray, shape (n_windows, d)
    track_ids : array-like, shape (n_windows,)
        Song of each window.

    Returns
    -------
    Z_song : np.ndarray, shape (n_songs, d) float64, mean over each song's windows.
    song_ids : np.ndarray, shape (n_songs,) sorted unique track ids (row order of ``Z_song``).
    """
    Z = np.asarray(Z, dtype=np.float64)
    ids = np.asarray(track_ids)
    if Z.ndim != 2 or len(ids) != Z.shape[0]:
        raise ValueError(f"aggregate_by_song: Z {Z.shape} and track_ids ({len(ids)},) do not match")
    song_ids, inv = np.unique(ids, return_inverse=True)
    sums = np.zeros((len(song_ids), Z.shape[1]))
    np.add.at(sums, inv, Z)
    counts = np.bincount(inv, minlength=len(song_ids))
    return sums / counts[:, None], song_ids
