"""Representations scored: one clustering's metrics with its chance level, aggregated over seeds, in
comparison tables (the metrics are ``metrics``', the chance levels ``chance``').

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

import logging

import numpy as np
import pandas as pd

from songspace.evaluation import neighbours
from songspace.evaluation.chance import chance_level
from songspace.evaluation.metrics import (
    INTERNAL,
    NO_LABEL,
    SILHOUETTE_MAX_N,
    _degenerate,
    external_metrics,
    internal_metrics,
)

log = logging.getLogger(__name__)


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
                             neighbour_k: int = neighbours.K, **cluster_kw) -> pd.DataFrame:
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
    methods : iterable of str  clustering methods (see :func:`songspace.evaluation.cluster.fit_predict`).
    seeds : iterable of int  at least 5 for a mean ± std.
    exclude_columns_per_rep : dict, name -> list of columns not to score for that representation.
    n_perm : int  permutations for chance levels.
    pca_dim : int, optional  PCA after standardising, per representation.
    neighbour_k : int  neighbours of ``neighbours.precision_at_k`` in each representation's own geometry
        (0 skips it); songs by the query's artist do not count when ``labels_df`` has an ``artist`` column
        that groups songs (except against the artist label itself).

    Returns
    -------
    pd.DataFrame, one row per representation x method x seed x label column: ``rep``, ``space``
    (= rep: internal metrics are in that space and not comparable across spaces), ``dim`` (after PCA),
    ``dim_raw``, ``n_items``, ``method``, ``algorithm``, ``seed``, ``k``, ``k_criterion``, ``label_column``,
    ``status`` (``ok`` / ``skipped`` / ``error`` when clustering failed), ``skip_reason``, internal metrics, external metrics and their
    ``*_chance`` / ``*_chance_p95``, ``p_at_10`` / ``p_at_10_chance`` (precision@``neighbour_k``, same for every
    method and seed of a representation), ``degenerate_reason``. Only items present in every representation
    and in ``labels_df`` are used, so all rows are on the same tracks.
    """
    from songspace.evaluation import (
        cluster,  # local import keeps evaluate importable alone
    )

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
        # expected for every label that only some songs have (compare.score scores each on those): not a warning
        if len(common) < len(ids):
            log.debug("%s: %d items not shared by all representations/labels are left out", name,
                      len(ids) - len(common))
    y_by_col = {c: labels_df.loc[common, c].to_numpy() for c in columns}
    artists = neighbours.artist_groups(labels_df.loc[common])
    p_key = f"p_at_{neighbour_k}"

    rows = []
    for name, (X, ids, rep) in songs.items():
        Xp, pinfo = cluster.preprocess(X[ids.get_indexer(common)], pca_dim, norm=rep.norm)
        refused = _condition_columns(rep) | set(exclude.get(name, []))
        retrieval = {}  # the retrieval view of each label: precision@k of the nearest songs, in this geometry
        for col in (columns if neighbour_k else []):
            if col not in refused:
                p = neighbours.precision_at_k(Xp, pinfo["norm"], y_by_col[col], neighbour_k,
                                              groups=None if col == "artist" else artists)
                retrieval[col] = {p_key: p["p_at_k"], f"{p_key}_chance": p["p_at_k_chance"]}
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
                    row.update(retrieval.get(col, {}))
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
