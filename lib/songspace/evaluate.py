"""Cluster quality: internal and external metrics, chance levels, seed aggregation, comparison tables.

Conventions (they matter for honest numbers):
- Noise (label -1, DBSCAN) is not a cluster. Every metric is computed on the non-noise points only,
  and ``noise_fraction`` is reported beside it.
- Items whose true label is missing (NA) are left out of the external metrics for that column.
- An undefined metric is NaN and ``degenerate_reason`` says why (one cluster, all noise,
  n_clusters >= n). Never a crash, never a silent 0.
- External metrics come with a chance level: the same cluster sizes with the items permuted.
  NMI rewards many small clusters by chance; AMI and ARI are chance-corrected, so compare to them.
- Internal metrics live in each representation's own space, so they are not comparable across
  representations of different dimension; tables carry ``space`` and ``dim`` for that reason.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import (adjusted_mutual_info_score, adjusted_rand_score, calinski_harabasz_score,
                             davies_bouldin_score, normalized_mutual_info_score, silhouette_score)
from sklearn.metrics.cluster import contingency_matrix

EXTERNAL = ("ari", "nmi", "ami", "purity")
INTERNAL = ("silhouette", "calinski_harabasz", "davies_bouldin")
NO_LABEL = "none"  # label_column of rows scored without labels (internal metrics only)


def _degenerate(labels: np.ndarray) -> str | None:
    """Why a clustering (noise already removed or not) cannot be scored, or None."""
    kept = labels[labels >= 0]
    n_clusters = len(np.unique(kept))
    if len(kept) == 0:
        return "all points are noise"
    if n_clusters < 2:
        return "only one cluster"
    if n_clusters >= len(kept):
        return f"n_clusters ({n_clusters}) >= n non-noise points ({len(kept)})"
    return None


# Silhouette is O(n^2): above this many points a seeded random subsample is used. Measured on 12,852
# ConvVAE window latents (100 songs): the full value 0.5024 in 2.8 s; 4,000-point samples 0.5033 +- 0.0019
# (10 draws) in 0.10 s. (10,000 made window-level scoring of 100 songs ~30 s.)
SILHOUETTE_MAX_N = 4_000


def internal_metrics(X: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin on the non-noise points.

    Parameters
    ----------
    X : np.ndarray, shape (n, d)
        The space the clustering was made in.
    labels : np.ndarray, shape (n,) int, -1 = noise.
    seed : int  for the silhouette subsample (only above ``SILHOUETTE_MAX_N`` non-noise points).

    Returns
    -------
    dict with ``silhouette`` (higher better, in [-1, 1]; ``silhouette_n`` points used), ``calinski_harabasz`` (higher better),
    ``davies_bouldin`` (lower better), ``n_clusters`` (noise excluded), ``noise_fraction``,
    ``degenerate_reason`` (None or why the metrics are NaN).
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    if X.shape[0] != len(labels):
        raise ValueError(f"X has {X.shape[0]} rows but labels has {len(labels)}")
    keep = labels >= 0
    out = {"n_clusters": int(len(np.unique(labels[keep]))), "noise_fraction": float(np.mean(~keep)),
           "degenerate_reason": _degenerate(labels)}
    if out["degenerate_reason"]:
        return {**dict.fromkeys(INTERNAL, np.nan), **out}
    Xk, lk = X[keep], labels[keep]
    n_sil = min(len(lk), SILHOUETTE_MAX_N)
    out["silhouette"] = float(silhouette_score(Xk, lk, sample_size=n_sil if n_sil < len(lk) else None,
                                               random_state=seed))
    out["silhouette_n"] = n_sil
    out["calinski_harabasz"] = float(calinski_harabasz_score(Xk, lk))
    out["davies_bouldin"] = float(davies_bouldin_score(Xk, lk))
    return out


def purity(y_true, labels) -> float:
    """Fraction of items whose cluster's majority class is their own class.

    sum over clusters of the largest class count, divided by n. 1 for a perfect clustering,
    also 1 for all-singleton clusters (hence report it with its chance level).
    """
    c = contingency_matrix(np.asarray(y_true), np.asarray(labels))  # (n_classes, n_clusters)
    return float(c.max(axis=0).sum() / c.sum())


def _scorable(y_true, labels) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Drop noise and missing labels; return the kept arrays and a reason if nothing sensible is left."""
    y = pd.Series(y_true).reset_index(drop=True)
    labels = np.asarray(labels).astype(int)
    if len(y) != len(labels):
        raise ValueError(f"y_true has {len(y)} items but labels has {len(labels)}")
    keep = (labels >= 0) & y.notna().to_numpy()
    y_k, l_k = y[keep].astype(str).to_numpy(), labels[keep]
    if len(l_k) == 0:
        reason = "all points are noise" if (labels < 0).all() else "no labelled non-noise point"
    elif len(np.unique(l_k)) < 2:
        reason = "only one cluster"
    else:
        reason = None
    return y_k, l_k, reason


def _external(y, lab) -> dict:
    return {"ari": float(adjusted_rand_score(y, lab)),
            "nmi": float(normalized_mutual_info_score(y, lab)),
            "ami": float(adjusted_mutual_info_score(y, lab)),
            "purity": purity(y, lab)}


def external_metrics(y_true, labels) -> dict:
    """ARI, NMI (arithmetic), AMI and purity against one label column, on non-noise labelled items.

    Parameters
    ----------
    y_true : array-like, shape (n,)  true labels; NA items are left out.
    labels : array-like, shape (n,) int, -1 = noise (left out).

    Returns
    -------
    dict with ``ari``, ``nmi``, ``ami``, ``purity``, ``n_scored`` and ``degenerate_reason``
    (metrics NaN when only one cluster or no point is left: a single cluster is not a finding).
    """
    y, lab, reason = _scorable(y_true, labels)
    if reason:
        return {**dict.fromkeys(EXTERNAL, np.nan), "n_scored": len(lab), "degenerate_reason": reason}
    return {**_external(y, lab), "n_scored": len(lab), "degenerate_reason": None}


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
    from sklearn.metrics.cluster._expected_mutual_info_fast import expected_mutual_information

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


def evaluate_clustering(X: np.ndarray | None, labels, y_true_by_column: dict | None = None,
                        n_perm: int = 200, seed: int = 0) -> dict:
    """All metrics of one clustering as one flat dict.

    Parameters
    ----------
    X : np.ndarray, shape (n, d), or None to skip internal metrics.
    labels : array-like, shape (n,) int, -1 = noise.
    y_true_by_column : dict, column name -> array-like (n,) of true labels.
    n_perm : int  permutations for the chance level (0 to skip).
    seed : int

    Returns
    -------
    dict: ``silhouette``, ``calinski_harabasz``, ``davies_bouldin``, ``n_clusters``, ``noise_fraction``,
    ``degenerate_reason``, and per column c: ``c_ari``, ``c_nmi``, ``c_ami``, ``c_purity``, ``c_n_scored``,
    ``c_<m>_chance``, ``c_<m>_chance_p95``.
    """
    labels = np.asarray(labels).astype(int)
    if X is not None:
        out = internal_metrics(X, labels, seed)
    else:
        out = {**dict.fromkeys(INTERNAL, np.nan), "n_clusters": int(len(np.unique(labels[labels >= 0]))),
               "noise_fraction": float(np.mean(labels < 0)), "degenerate_reason": _degenerate(labels)}
    for col, y in (y_true_by_column or {}).items():
        ext = external_metrics(y, labels)
        reason = ext.pop("degenerate_reason")
        if reason and not out["degenerate_reason"]:
            out["degenerate_reason"] = f"{col}: {reason}"
        out.update({f"{col}_{k}": v for k, v in ext.items()})
        if n_perm:
            out.update({f"{col}_{k}": v for k, v in chance_level(y, labels, n_perm, seed).items()})
    return out


def aggregate_seeds(df: pd.DataFrame, group_cols, metric_cols=None, seed_col: str = "seed") -> pd.DataFrame:
    """Mean and standard deviation of metrics over seeds.

    Parameters
    ----------
    df : pd.DataFrame, one row per (group, seed).
    group_cols : list of str  columns identifying a configuration (everything but the seed).
    metric_cols : list of str, optional  default: every numeric column not in ``group_cols`` nor the seed.
    seed_col : str

    Returns
    -------
    pd.DataFrame, one row per group: group columns, ``<m>_mean``, ``<m>_std`` (sample std, ddof=1;
    NaN with a single seed), ``<m>_n_nan`` (seeds where m was NaN, left out of mean and std) and
    ``n_seeds`` (rows in the group).
    """
    group_cols = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    if metric_cols is None:
        metric_cols = [c for c in df.select_dtypes("number").columns if c not in group_cols and c != seed_col]
    missing = [c for c in [*group_cols, *metric_cols] if c not in df.columns]
    if missing:
        raise KeyError(f"aggregate_seeds: columns not in the table: {missing}")
    g = df.groupby(group_cols, dropna=False, sort=True)
    parts = []
    for m in metric_cols:
        s = g[m]
        parts.append(pd.DataFrame({f"{m}_mean": s.mean(), f"{m}_std": s.std(ddof=1),
                                   f"{m}_n_nan": s.apply(lambda v: int(v.isna().sum()))}))
    out = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=g.size().index)
    out["n_seeds"] = g.size()
    return out.reset_index()


def format_pm(mean: float, std: float, digits: int = 3) -> str:
    """``"0.512 ± 0.034"``; ``"n/a"`` for a NaN mean, ``"0.512"`` alone when std is NaN (one seed)."""
    if mean is None or not np.isfinite(mean):
        return "n/a"
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _condition_columns(rep) -> set:
    cond = rep.condition_column
    if cond is None:
        return set()
    return {cond} if isinstance(cond, str) else set(cond)


def evaluate_representations(reps: dict, labels_df: pd.DataFrame, columns, k: int | None = None,
                             methods=("kmeans",), seeds=range(5), exclude_columns_per_rep: dict | None = None,
                             n_perm: int = 200, pca_dim: int | None = None, id_column: str = "track_id",
                             **cluster_kw) -> pd.DataFrame:
    """Cluster several representations the same way and score them in one long table.

    Parameters
    ----------
    reps : dict, name -> ``representation.Representation``
        Its ``X`` (n_items, d), ``track_ids`` (n_items,), ``norm`` (how it is normalised before clustering:
        ``cluster.preprocess``) and ``condition_column`` (the label a conditional model saw, never scored against).
        Window-level X (repeated track ids) is averaged per song first (:func:`cluster.aggregate_by_song`).
    labels_df : pd.DataFrame with ``id_column`` and the label columns.
    columns : list of str  label columns to score against; empty: one row per representation x method x
        seed with internal metrics only (``label_column`` ``NO_LABEL``).
    k : int, optional  same k for every representation; None lets each choose (recorded in ``k_criterion``).
    methods : iterable of str  clustering methods (see :func:`songspace.cluster.fit_predict`).
    seeds : iterable of int  at least 5 for a mean ± std.
    exclude_columns_per_rep : dict, name -> list of columns not to score for that representation.
    n_perm : int  permutations for chance levels.
    pca_dim : int, optional  PCA after standardising, per representation.

    Returns
    -------
    pd.DataFrame, one row per representation x method x seed x label column: ``rep``, ``space``
    (= rep: internal metrics are in that space and not comparable across spaces), ``dim`` (after PCA),
    ``dim_raw``, ``n_items``, ``method``, ``algorithm``, ``seed``, ``k``, ``k_criterion``, ``label_column``,
    ``status`` (``ok`` / ``skipped`` / ``error`` when clustering failed), ``skip_reason``, internal metrics, external metrics and their
    ``*_chance`` / ``*_chance_p95``, ``degenerate_reason``. Only items present in every representation
    and in ``labels_df`` are used, so all rows are on the same tracks.
    """
    from songspace import cluster  # local import keeps evaluate importable alone

    exclude = exclude_columns_per_rep or {}
    if labels_df[id_column].duplicated().any():
        raise ValueError(f"evaluate_representations: labels_df has duplicate {id_column!r} values")
    labels_df = labels_df.set_index(labels_df[id_column].astype(str).to_numpy())
    missing_cols = [c for c in columns if c not in labels_df.columns]
    if missing_cols:
        raise KeyError(f"evaluate_representations: label columns not in labels_df: {missing_cols}")
    songs = {}
    for name, rep in reps.items():
        X = np.asarray(rep.X, dtype=np.float64)
        ids = np.asarray(rep.track_ids).astype(str)
        if len(ids) != X.shape[0]:
            raise ValueError(f"representation {name!r}: {X.shape[0]} rows but {len(ids)} track_ids")
        if len(np.unique(ids)) < len(ids):
            X, ids = cluster.aggregate_by_song(X, ids)
        songs[name] = (X, pd.Index(ids), rep)
    common = labels_df.index
    for X, ids, _ in songs.values():
        common = common.intersection(ids)
    common = common.sort_values()
    for name, (X, ids, _) in songs.items():
        if len(common) < len(ids):
            warnings.warn(f"{name}: {len(ids) - len(common)} items not shared by all representations/labels are left out")
    y_by_col = {c: labels_df.loc[common, c].to_numpy() for c in columns}

    rows = []
    for name, (X, ids, rep) in songs.items():
        Xp, pinfo = cluster.preprocess(X[ids.get_indexer(common)], pca_dim, norm=rep.norm)
        refused = _condition_columns(rep) | set(exclude.get(name, []))
        for method in methods:
            # one fit serves every seed when the method ignores it (and k needs no seeded silhouette sample)
            reuse = cluster.seed_free(method, len(Xp)) and (k is not None or len(Xp) <= SILHOUETTE_MAX_N)
            fitted = None
            for seed in seeds:
                try:
                    if fitted is None or not reuse:
                        fitted = cluster.fit_predict(Xp, method, k=k, seed=seed, standardize=False,
                                                     return_info=True, **cluster_kw)
                    labels, info = fitted
                except ValueError as e:  # e.g. k >= n: recorded as a failed row, the table goes on
                    rows += [{"rep": name, "space": name, "dim": Xp.shape[1], "dim_raw": X.shape[1],
                              "n_items": len(common), "method": method, "seed": seed, "k": k,
                              "label_column": col, "status": "error", "skip_reason": str(e)} for col in columns]
                    continue
                internal = internal_metrics(Xp, labels, seed)
                base = {"rep": name, "space": name, "dim": Xp.shape[1], "dim_raw": X.shape[1],
                        "norm": pinfo["norm"], "pca_dim": pinfo["pca_dim"], "n_items": len(common), "method": method,
                        "algorithm": info["algorithm"], "seed": seed, "k": info["k"],
                        "k_criterion": info["k_criterion"], **internal}
                if not columns:  # no labels: the internal metrics are the whole score
                    rows.append({**base, "label_column": NO_LABEL, "status": "ok", "skip_reason": None})
                for col in columns:
                    row = {**base, "label_column": col, "status": "ok", "skip_reason": None}
                    if col in refused:
                        why = ("conditioning column of this model" if col in _condition_columns(rep)
                               else "excluded for this representation")
                        row.update(status="skipped", skip_reason=why)
                        rows.append(row)
                        continue
                    ext = external_metrics(y_by_col[col], labels)
                    reason = ext.pop("degenerate_reason")
                    row.update(ext)
                    row["degenerate_reason"] = row["degenerate_reason"] or reason
                    if n_perm:
                        row.update(chance_level(y_by_col[col], labels, n_perm, seed))
                    rows.append(row)
    return pd.DataFrame(rows)


def rank_by_silhouette(df: pd.DataFrame) -> pd.DataFrame:
    """Representations ranked by mean silhouette, always shown with their dimension.

    Silhouette is measured in each representation's own space and tends to grow as dimension
    shrinks, so a ranking without ``dim`` beside it misleads. Input: the table of
    :func:`evaluate_representations` (optionally with ``song_set``). Output: one row per (song set, k,
    space, method, dim) with ``n_items``, ``silhouette_mean``, ``silhouette_std``, ``n_seeds``, best
    first within each song set and k: silhouette depends on k and on the songs, so it is only ranked
    among rows that share both.
    """
    keys = [c for c in ("song_set", "k", "n_items") if c in df.columns]
    per_seed = df.drop_duplicates([*keys, "space", "method", "seed"])
    out = aggregate_seeds(per_seed, [*keys, "space", "method", "dim"], ["silhouette"])
    order = [c for c in ("song_set", "k") if c in out.columns]
    return out.sort_values([*order, "silhouette_mean"], ascending=[True] * len(order) + [False],
                           na_position="last").reset_index(drop=True)
