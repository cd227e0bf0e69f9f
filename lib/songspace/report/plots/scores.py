"""The scores drawn: AMI per representation with its seed spread and chance band, internal indices, and
how each cluster is composed of a label's values.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from songspace.report.plots.style import _categories, _figure, _finish, _style

# ---- cluster composition ----

def composition_table(clusters: np.ndarray, labels: np.ndarray, normalize: bool = False) -> pd.DataFrame:
    """Cluster × label counts, or with ``normalize=True`` each cluster's shares (rows sum to 1).

    Cluster ``-1`` (DBSCAN noise) is named ``"noise"``; missing labels are ``"NA"``.
    """
    clusters, labels = np.asarray(clusters), np.asarray(labels, dtype=object)
    if clusters.shape != labels.shape or clusters.ndim != 1:
        raise ValueError(f"clusters {clusters.shape} and labels {labels.shape} must be the same 1-D length")
    c = pd.Series(clusters).map(lambda v: "noise" if v == -1 else str(v))
    y = _categories(pd.Series(labels))
    tab = pd.crosstab(c.rename("cluster"), y.rename("label"))
    order = sorted(tab.index, key=lambda s: (s == "noise", int(s) if s.lstrip("-").isdigit() else 0, s))
    tab = tab.loc[order]
    return tab.div(tab.sum(axis=1), axis=0) if normalize else tab


def composition_heatmap(clusters: np.ndarray, labels: np.ndarray, normalize: bool = False,
                        label_name: str = "label", path=None) -> Figure:
    """Heatmap of :func:`composition_table`: which languages / genres each cluster holds.

    Parameters
    ----------
    clusters : np.ndarray, shape (n,), int
        Cluster of each item (-1 = noise).
    labels : np.ndarray, shape (n,)
        Known label of each item (language, genre, ...), used only to describe the clusters.
    normalize : bool
        False: counts (items); True: share of each cluster (0..1).
    """
    tab = composition_table(clusters, labels, normalize)
    fig, axes = _figure(figsize=(1.0 + 0.7 * tab.shape[1] + 1.5, 0.5 * tab.shape[0] + 1.5))
    ax = axes[0, 0]
    sns.heatmap(tab, annot=tab.shape[0] * tab.shape[1] <= 400, fmt=".2f" if normalize else "d", cmap="Blues",
                vmin=0, vmax=1 if normalize else None, ax=ax,
                cbar_kws={"label": "share of cluster" if normalize else "count (items)"})
    ax.set(xlabel=label_name, ylabel="cluster")
    return _finish(fig, path)


# ---- the report's summary page ----

# The chance band of the summary figure: a colour no other figure of the report uses, so a test can
# find the figure on a rendered page.
CHANCE_BAND = "#f6d8a8"
FAMILY_STYLE = {"model": {"marker": "o", "color": "#0072b2", "label": "model (VAE family)"},
                "own": {"marker": "D", "color": "#009e73", "label": "model's own clusters"},
                "baseline": {"marker": "s", "color": "0.45", "label": "plain baseline"}}


def _family_of(row) -> str:
    return "own" if row.get("method") == "own" else ("model" if row["family"] == "model" else "baseline")


def ami_summary(scored_rows: pd.DataFrame, title: str | None = None, path=None) -> Figure:
    """AMI per representation and label: the report's summary figure.

    Parameters
    ----------
    scored_rows : pd.DataFrame
        Rows of one song set (``summary.scored``) with ``label_column, rep, family, method, ami_mean,
        ami_std, ami_chance_p95_mean``.

    Returns
    -------
    Figure with one panel per label; points are mean AMI (unitless, 0 = chance), error bars ±1 std
    over seeds, the shaded band reaches the 95th percentile of AMI under label permutations; models
    (circles, blue), a model's own clusters (diamonds, green) and baselines (grey squares) differ.
    """
    need = {"label_column", "rep", "family", "ami_mean", "ami_std", "ami_chance_p95_mean"}
    if missing := need - set(scored_rows.columns):
        raise KeyError(f"scored_rows lacks {sorted(missing)}")
    if scored_rows.empty:
        raise ValueError("no scored rows to plot")
    labels = sorted(scored_rows["label_column"].unique())
    order = scored_rows.groupby("rep")["ami_mean"].mean().sort_values(ascending=False).index.tolist()
    y = {r: i for i, r in enumerate(order)}
    fig, axes = _figure(1, len(labels), figsize=(min(7.2, 1.6 + 2.9 * len(labels)), 0.19 * len(order) + 1.3),
                        sharey=True)
    for ax, col in zip(axes[0], labels):
        g = scored_rows[scored_rows["label_column"] == col]
        ax.axvspan(min(0.0, float(g["ami_mean"].min()) - 0.02), float(g["ami_chance_p95_mean"].max()),
                   color=CHANCE_BAND, lw=0, zorder=0)
        for fam, style in FAMILY_STYLE.items():
            s = g[[_family_of(r) == fam for r in g.to_dict("records")]]
            if len(s):
                ax.errorbar(s["ami_mean"], [y[r] for r in s["rep"]], xerr=np.nan_to_num(s["ami_std"].to_numpy(float)),
                            fmt=style["marker"], color=style["color"], ms=4.5, capsize=2, lw=1)
        ax.axvline(0, color="0.3", lw=0.6)
        ax.set_title(f"against {col}", fontsize="small")
        ax.set_xlabel("AMI (mean ± std over seeds)", fontsize="x-small")
        ax.tick_params(labelsize=7)
    axes[0, 0].set(yticks=range(len(order)), ylim=(len(order) - 0.5, -0.5))
    axes[0, 0].set_yticklabels(order, fontsize=7)
    _summary_legend(fig)
    if title:
        fig.suptitle(title, fontsize="medium")
    return _finish(fig, path)


def _summary_legend(fig) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], marker=s["marker"], color=s["color"], ls="", label=s["label"]) for s in FAMILY_STYLE.values()]
    handles.append(Patch(color=CHANCE_BAND, label="≤ 95th pct. of label permutations"))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="x-small", frameon=False)


def internal_summary(rows: pd.DataFrame, cluster_sizes: pd.Series | None = None, sizes_of: str = "",
                     path=None) -> Figure:
    """Without labels: silhouette per representation (own space) and, if given, the cluster sizes.

    Parameters
    ----------
    rows : K-Means rows with ``rep, family, silhouette_mean, silhouette_std`` (unitless, -1..1).
    cluster_sizes : songs per cluster of the recommended representation (index = cluster).
    sizes_of : name of that representation (panel title).
    """
    rows = rows.sort_values("silhouette_mean", ascending=False)
    names = rows["rep"].astype(str)
    if names.duplicated().any() and "k" in rows:  # k chosen by silhouette per seed: one row per k
        names = names + " (k=" + rows["k"].astype(int).astype(str) + ")"
    ncols = 2 if cluster_sizes is not None and len(cluster_sizes) else 1
    fig, axes = _figure(1, ncols, figsize=(3.6 * ncols + 1, 0.19 * len(rows) + 1.4))
    ax = axes[0, 0]
    yy = np.arange(len(rows))
    for fam in ("model", "baseline"):
        m = (rows["family"] == fam).to_numpy()
        st = FAMILY_STYLE[fam]
        ax.errorbar(rows["silhouette_mean"].to_numpy(float)[m], yy[m], xerr=np.nan_to_num(rows["silhouette_std"].to_numpy(float)[m]),
                    fmt=st["marker"], color=st["color"], ms=4.5, capsize=2, lw=1, label=st["label"])
    ax.set(yticks=yy, ylim=(len(rows) - 0.5, -0.5), xlabel="silhouette (own space; mean ± std)", title="internal metric")
    ax.set_yticklabels(names, fontsize=7)
    ax.legend(fontsize="x-small", loc="lower right")
    if ncols == 2:
        sizes = cluster_sizes.sort_index()
        axes[0, 1].bar([str(c) for c in sizes.index], sizes.to_numpy(), color="0.45")
        axes[0, 1].set(xlabel="cluster", ylabel="songs", title=f"cluster sizes {sizes_of}".strip())
    return _finish(fig, path)


UNIT, MAX_ROW_COLUMNS = 0.45, 28  # inches per class column; a row of panels at most ~12.6 in wide


def composition_heatmaps(clusters: np.ndarray, labels: dict, title: str | None = None, path=None) -> Figure:
    """:func:`composition_heatmap` for several label columns side by side, wrapped into rows of at most
    ``MAX_ROW_COLUMNS`` class columns (shares of each cluster).

    Parameters
    ----------
    clusters : np.ndarray, shape (n,), int
        Cluster of each song.
    labels : dict column name -> np.ndarray (n,) of that column's values for the same songs.
    """
    if not labels:
        raise ValueError("no label column to describe the clusters with")
    tabs = {col: composition_table(clusters, y, normalize=True) for col, y in labels.items()}
    n_clusters = max(t.shape[0] for t in tabs.values())
    # panels side by side while a row fits, then on the next row: one wide row would be shrunk to the page or
    # the notebook column until nothing can be read. Widths in class columns (UNIT inches), plus the cluster axis.
    spans = {col: max(3, t.shape[1]) + 3 for col, t in tabs.items()}
    rows: list[list[str]] = []
    for col in tabs:
        if rows and sum(spans[c] for c in rows[-1]) + spans[col] <= MAX_ROW_COLUMNS:
            rows[-1].append(col)
        else:
            rows.append([col])
    width = max(sum(spans[c] for c in row) for row in rows)
    with _style():
        fig = Figure(figsize=(width * UNIT, len(rows) * (0.32 * n_clusters + 1.5)), layout="constrained")
        axes = []
        for sub, row in zip(fig.subfigures(len(rows), 1, squeeze=False)[:, 0], rows):
            ratios = [spans[c] for c in row] + ([width - sum(spans[c] for c in row)] if len(rows) > 1 else [])
            ratios = [r for r in ratios if r > 0]
            row_axes = sub.subplots(1, len(ratios), squeeze=False, width_ratios=ratios)[0]
            for ax in row_axes[len(row):]:
                ax.remove()  # the rest of a shorter row (its slot stays): its panels keep the width of a class column
            axes += list(row_axes[:len(row)])
    for ax, (col, tab) in zip(axes, tabs.items()):
        sns.heatmap(tab, annot=tab.size <= 200, fmt=".2f", cmap="Blues", vmin=0, vmax=1, ax=ax, cbar=False,
                    annot_kws={"fontsize": 7})
        ax.set_xlabel(col, fontsize="small")
        ax.set_ylabel("cluster", fontsize="small")
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize="small")
    return _finish(fig, path)
