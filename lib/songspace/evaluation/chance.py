"""Chance levels of the external metrics: the same cluster sizes with the labels permuted.

Permutations are scored from contingency tables built in one vectorised pass (``permuted_contingencies``),
not by re-running scikit-learn per permutation; ``chance_level_loop`` is the plain loop kept as the
reference the tests compare against.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from songspace.evaluation.metrics import EXTERNAL, _external, _scorable


def permuted_clusterings(labels, n_perm: int = 200, seed: int = 0) -> np.ndarray:
    """Random clusterings with the same cluster sizes: ``labels`` shuffled across items.

    Returns
    -------
    np.ndarray, shape (n_perm, n) int, one permutation of ``labels`` per row.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    return np.stack([rng.permutation(labels) for _ in range(n_perm)]) if n_perm else np.empty((0, len(labels)), int)


def _codes(values) -> tuple[np.ndarray, int]:
    """Integer codes 0..k-1 of ``values`` (any shape) and k."""
    uniq, inv = np.unique(values, return_inverse=True)
    return inv.reshape(np.shape(values)), len(uniq)


CHANCE_CELLS = 1 << 22  # contingency cells built per batch of permutations (memory ~ 8 bytes each)


def permuted_contingencies(cls: np.ndarray, n_cls: int, perm_codes: np.ndarray, n_clu: int) -> np.ndarray:
    """Contingency tables of many clusterings against one class vector, in one bincount.

    Parameters
    ----------
    cls : np.ndarray, shape (n,) int  class codes in [0, n_cls).
    perm_codes : np.ndarray, shape (n_perm, n) int  cluster codes in [0, n_clu), one clustering per row.

    Returns
    -------
    np.ndarray, shape (n_perm, n_clu, n_cls) int64: ``[p, k, c]`` = items of class c in cluster k
    under clustering p.
    """
    n_perm = perm_codes.shape[0]
    flat = (np.arange(n_perm)[:, None] * n_clu + perm_codes) * n_cls + cls[None, :]
    return np.bincount(flat.ravel(), minlength=n_perm * n_clu * n_cls).reshape(n_perm, n_clu, n_cls)


def _clamp_eps(x: np.ndarray) -> np.ndarray:
    """Away from 0 by at least machine eps, keeping the sign (as sklearn's AMI does)."""
    eps = np.finfo("float64").eps
    return np.where(x < 0, np.minimum(x, -eps), np.maximum(x, eps))


def _entropy_of_counts(counts: np.ndarray) -> float:
    """Natural-log entropy of a labelling from its class counts (sklearn's ``_entropy``)."""
    counts = counts[counts > 0].astype(np.float64)
    total = counts.sum()
    return float(-np.sum((counts / total) * (np.log(counts) - np.log(total))))


def external_from_contingencies(cont: np.ndarray, emi: float) -> dict:
    """ARI, NMI (arithmetic), AMI and purity of many clusterings sharing both marginals.

    Parameters
    ----------
    cont : np.ndarray, shape (n_perm, n_clu, n_cls) int  contingency tables (:func:`permuted_contingencies`);
        every table has the same row sums (cluster sizes) and column sums (class sizes), at least
        two clusters, as after :func:`_scorable`.
    emi : float  expected mutual information of those marginals (sklearn's ``expected_mutual_information``).

    Returns
    -------
    dict metric -> np.ndarray (n_perm,), equal to sklearn's scores of each clustering within float rounding.
    """
    n = int(cont[0].sum())
    a = cont[0].sum(axis=1)  # cluster sizes (K,)
    b = cont[0].sum(axis=0)  # class sizes (C,)
    a, b = a[a > 0], b[b > 0]
    one_class = len(b) == 1
    # ARI from the pair confusion matrix (sklearn's formula, in float64: no int64 overflow at large n)
    sum_sq = (cont.astype(np.float64) ** 2).sum(axis=(1, 2))
    tp = sum_sq - n
    fp = float((a.astype(np.float64) ** 2).sum()) - sum_sq  # same cluster, different class
    fn = float((b.astype(np.float64) ** 2).sum()) - sum_sq  # same class, different cluster
    tn = float(n) ** 2 - fp - fn - sum_sq
    with np.errstate(invalid="ignore", divide="ignore"):
        ari = 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
    ari = np.where((fn == 0) & (fp == 0), 1.0, ari)
    # mutual information, term by term as sklearn's mutual_info_score
    c = cont.astype(np.float64)
    nz = c > 0
    log_c = np.log(np.where(nz, c, 1.0))
    outer = cont.sum(axis=2, keepdims=True).astype(np.float64) * cont.sum(axis=1, keepdims=True)
    log_outer = -np.log(np.where(nz, outer, 1.0)) + np.log(float(n)) + np.log(float(n))
    terms = (c / n) * (log_c - np.log(float(n))) + (c / n) * log_outer
    terms = np.where(nz & (np.abs(terms) >= np.finfo(np.float64).eps), terms, 0.0)
    mi = np.clip(terms.sum(axis=(1, 2)), 0.0, None)
    normalizer = (_entropy_of_counts(a) + _entropy_of_counts(b)) / 2
    nmi = np.zeros_like(mi) if one_class else np.where(mi == 0, 0.0, mi / normalizer)
    ami = np.zeros_like(mi) if one_class else _clamp_eps(mi - emi) / _clamp_eps(np.array(normalizer - emi))
    pur = cont.max(axis=2).sum(axis=1) / n
    return {"ari": ari, "nmi": nmi, "ami": ami, "purity": pur.astype(np.float64)}


def chance_scores(y, lab, n_perm: int = 200, seed: int = 0) -> pd.DataFrame:
    """External metrics of ``n_perm`` permutations of ``lab`` (the rows of :func:`permuted_clusterings`).

    All permutations are scored at once from their contingency tables; the expected mutual
    information of AMI depends only on the marginals, which permuting keeps, so it is computed once.

    Parameters
    ----------
    y : np.ndarray, shape (n,)  true labels of scorable items (no NA).
    lab : np.ndarray, shape (n,) int  cluster labels (no noise), at least two clusters.

    Returns
    -------
    pd.DataFrame, shape (n_perm, 4), columns ari, nmi, ami, purity.
    """
    from sklearn.metrics.cluster._expected_mutual_info_fast import (
        expected_mutual_information,
    )

    if n_perm == 0:
        return pd.DataFrame(columns=list(EXTERNAL), dtype=float)
    cls, n_cls = _codes(np.asarray(y))
    perms, n_clu = _codes(permuted_clusterings(lab, n_perm, seed))
    emi = 0.0 if n_cls == 1 else float(expected_mutual_information(
        permuted_contingencies(cls, n_cls, perms[:1], n_clu)[0], len(cls)))
    step = max(1, CHANCE_CELLS // max(1, n_clu * n_cls))
    parts = [external_from_contingencies(permuted_contingencies(cls, n_cls, perms[i:i + step], n_clu), emi)
             for i in range(0, n_perm, step)]
    return pd.DataFrame({m: np.concatenate([p[m] for p in parts]) for m in EXTERNAL})


def chance_level(y_true, labels, n_perm: int = 200, seed: int = 0) -> dict:
    """External metrics of random clusterings with the same cluster sizes.

    The cluster labels are permuted across the (non-noise, labelled) items ``n_perm`` times, which
    keeps every cluster's size and the class distribution and destroys only their association.
    Every permutation is scored in one array operation (:func:`chance_scores`); the values equal
    sklearn's metrics of each permutation.

    Returns
    -------
    dict with ``<m>_chance`` (mean) and ``<m>_chance_p95`` (95th percentile) for m in ari, nmi, ami,
    purity; NaN when the clustering is degenerate (see :func:`external_metrics`).
    """
    y, lab, reason = _scorable(y_true, labels)
    keys = [f"{m}_chance" for m in EXTERNAL] + [f"{m}_chance_p95" for m in EXTERNAL]
    if reason:
        return dict.fromkeys(keys, np.nan)
    scores = chance_scores(y, lab, n_perm, seed)
    out = {f"{m}_chance": float(scores[m].mean()) for m in EXTERNAL}
    out.update({f"{m}_chance_p95": float(scores[m].quantile(0.95)) for m in EXTERNAL})
    return out


def chance_level_loop(y_true, labels, n_perm: int = 200, seed: int = 0) -> dict:
    """:func:`chance_level` the plain way, sklearn's metrics on one permutation at a time.

    The reference the vectorised version is tested and benchmarked against; same output.
    """
    y, lab, reason = _scorable(y_true, labels)
    keys = [f"{m}_chance" for m in EXTERNAL] + [f"{m}_chance_p95" for m in EXTERNAL]
    if reason:
        return dict.fromkeys(keys, np.nan)
    scores = pd.DataFrame([_external(y, perm) for perm in permuted_clusterings(lab, n_perm, seed)])
    out = {f"{m}_chance": float(scores[m].mean()) for m in EXTERNAL}
    out.update({f"{m}_chance_p95": float(scores[m].quantile(0.95)) for m in EXTERNAL})
    return out
