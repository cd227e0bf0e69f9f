"""Songs like this one: nearest songs in a representation's own geometry, and how often they share a label.

The geometry is the one the representation is clustered in (``cluster.preprocess`` with its ``norm``):
unit-length embeddings (``norm="l2"``) are compared by cosine distance, everything else by Euclidean
distance. ``precision_at_k`` is the retrieval view of the clusters: the share of a song's ``k`` nearest
songs that have its label. When the collection has an artist column, songs by the query's own artist do
not count (they are left out of its candidates), so an artist's near-identical tracks do not make a
genre look easy; the artist label itself is scored without that filter.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import pairwise_distances

K = 10  # neighbours per song in neighbours.csv and in precision@k
CHUNK_CELLS = 20_000_000  # distance-matrix cells computed at once (160 MB of float64)


def metric_of(norm: str) -> str:
    """The distance of a geometry: ``"cosine"`` for unit-length rows, else ``"euclidean"``."""
    return "cosine" if norm == "l2" else "euclidean"


def nearest(X: np.ndarray, norm: str, k: int = K, groups=None, Y: np.ndarray | None = None):
    """The ``k`` nearest rows of ``X`` for every row of ``Y`` (default: ``X`` itself, self left out).

    Parameters
    ----------
    X : np.ndarray, shape (n, d)  the collection, already normalised (``cluster.preprocess``).
    norm : its ``norm`` (picks the distance, :func:`metric_of`).
    k : neighbours per query.
    groups : array (n,), optional  e.g. the artist of each row: a query never gets a row of its own group
        (NA groups exclude nothing). Only with ``Y`` None.
    Y : np.ndarray, shape (m, d), optional  queries from outside the collection (``assign``).

    Returns
    -------
    idx : np.ndarray (m, k) int, nearest first; -1 where fewer than ``k`` candidates exist.
    dist : np.ndarray (m, k) float, the distances (inf where idx is -1).
    """
    X = np.asarray(X, dtype=np.float64)
    own = Y is None
    Y = X if own else np.asarray(Y, dtype=np.float64)
    n, m = len(X), len(Y)
    g = None
    if own and groups is not None:
        g = pd.Series(np.asarray(groups, dtype=object)).astype("string").to_numpy(dtype=object, na_value=None)
    k_eff = min(k, n - (1 if own else 0))
    idx = np.full((m, k), -1, dtype=int)
    dist = np.full((m, k), np.inf)
    if k_eff < 1:
        return idx, dist
    step = max(1, CHUNK_CELLS // max(n, 1))
    for s in range(0, m, step):
        D = pairwise_distances(Y[s:s + step], X, metric=metric_of(norm))
        rows = np.arange(s, min(s + step, m))
        if own:
            D[rows - s, rows] = np.inf
            if g is not None:
                q = g[rows]
                same = (q[:, None] == g[None, :]) & pd.notna(q)[:, None]
                D[same] = np.inf
        part = np.argpartition(D, k_eff - 1, axis=1)[:, :k_eff]
        order = np.take_along_axis(D, part, 1).argsort(axis=1, kind="stable")
        part = np.take_along_axis(part, order, 1)
        d = np.take_along_axis(D, part, 1)
        part[~np.isfinite(d)] = -1
        idx[rows, :k_eff], dist[rows, :k_eff] = part, d
    return idx, dist


def precision_at_k(X: np.ndarray, norm: str, y, k: int = K, groups=None) -> dict:
    """Mean share of each song's ``k`` nearest songs that have its label, and the same for random neighbours.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)  normalised song vectors.
    y : array (n,)  labels; songs without one (NA) are neither queries nor candidates.
    groups : array (n,), optional  the artist of each song: neighbours by the query's own artist do not count.

    Returns
    -------
    dict ``p_at_k`` (mean over queries with at least one candidate), ``p_at_k_chance`` (expected value for
    neighbours drawn at random from each query's candidates: the share of its candidates in its class),
    ``n_queries``. NaN when no song has a labelled candidate.
    """
    y = pd.Series(np.asarray(y, dtype=object))
    has = y.notna().to_numpy()
    Xl, yl = np.asarray(X)[has], y[has].astype(str).to_numpy()
    gl = None if groups is None else np.asarray(groups, dtype=object)[has]
    nan = {"p_at_k": np.nan, "p_at_k_chance": np.nan, "n_queries": 0}
    if len(yl) < 2:
        return nan
    idx, _ = nearest(Xl, norm, k, groups=gl)
    found = idx >= 0
    hits = (yl[np.where(found, idx, 0)] == yl[:, None]) & found
    n_found = found.sum(1)
    ok = n_found > 0
    if not ok.any():
        return nan
    # chance: the class share among each query's candidates (not itself, nor, filtered, its own artist)
    cls = pd.Series(yl)
    same_class = cls.map(cls.value_counts()).to_numpy() - 1
    cand = np.full(len(yl), len(yl) - 1)
    if gl is not None:
        art = pd.Series(gl, dtype=object)
        known = art.notna().to_numpy()
        by_artist = art.map(art.value_counts()).fillna(1).to_numpy() - 1
        by_both = pd.Series(list(zip(art.astype(str), yl))).map(
            pd.Series(list(zip(art.astype(str), yl))).value_counts()).to_numpy() - 1
        cand = cand - np.where(known, by_artist, 0)
        same_class = same_class - np.where(known, by_both, 0)
    chance = same_class[ok] / np.maximum(cand[ok], 1)
    return {"p_at_k": float((hits.sum(1)[ok] / n_found[ok]).mean()), "p_at_k_chance": float(chance.mean()),
            "n_queries": int(ok.sum())}


def artist_groups(labels_df: pd.DataFrame, column: str = "artist"):
    """The artist of each row when ``column`` groups songs (some artist has two or more), else None."""
    if column not in labels_df:
        return None
    a = labels_df[column]
    return a.to_numpy(dtype=object) if a.dropna().duplicated().any() else None
