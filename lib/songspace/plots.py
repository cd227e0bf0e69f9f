"""Every figure of the project: static ones with matplotlib/seaborn, interactive ones with plotly.

Static functions build a ``matplotlib.figure.Figure`` without pyplot, so a figure shows once
in a notebook (after :func:`setup_notebook`) and nothing piles up in pyplot's figure list.
``path=...`` also saves it (PNG, atomically). Inputs are plain numpy arrays and DataFrames.
"""
from __future__ import annotations

import io
import logging
import os
import random
import sys
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from songspace.cache import atomic_write_bytes, atomic_write_text

STYLE = {"style": "whitegrid", "context": "notebook", "palette": "colorblind"}
SPEC_CMAP = "magma"
HOVER = ("artist", "title", "language", "genre", "cluster")
log = logging.getLogger(__name__)


# Both renderers, in one output: JupyterLab draws the application/vnd.plotly.v1+json mimetype
# (plotly's lab extension); nbconvert/HTML export, which drops that mimetype, draws the text/html
# part of the "notebook" renderer (plotly.js embedded once, so the HTML works offline).
PLOTLY_RENDERER = "plotly_mimetype+notebook"


def setup_notebook(seed: int = 0, log_level: int | str = "INFO") -> None:
    """Fix the look, the randomness and the messages of a notebook; call it in the first cell.

    Sets plotly's renderer to ``"plotly_mimetype+notebook"`` (each figure carries the plotly
    mimetype for JupyterLab and HTML with plotly.js embedded for the exported report, offline),
    the seaborn theme, PNG display of matplotlib figures, shows songspace's log messages at
    ``log_level`` in the cell output (``songspace.log.setup_logging``), and seeds ``random`` and
    ``numpy``.
    """
    from songspace.log import setup_logging

    _use_plotly_renderer(PLOTLY_RENDERER)
    sns.set_theme(**STYLE)
    random.seed(seed)
    np.random.seed(seed)
    setup_logging(log_level, stream="stdout")
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        if get_ipython() is not None:
            set_matplotlib_formats("png")  # also displays pyplot-free Figure objects
    except ImportError:
        pass


def _use_plotly_renderer(name: str) -> None:
    """Make ``name`` plotly's default renderer without importing plotly's renderers module when it is not
    loaded yet: plotly reads ``PLOTLY_RENDERER`` when that module is first imported (on the first
    figure shown). The import costs ~1.5 s (nbformat and its jsonschema), which notebooks that draw no
    plotly figure (00-05) then never pay."""
    if "plotly.io._renderers" in sys.modules:
        import plotly.io as pio

        pio.renderers.default = name
    else:
        os.environ["PLOTLY_RENDERER"] = name


def _figure(nrows=1, ncols=1, figsize=(6, 4), **kw) -> tuple[Figure, np.ndarray]:
    with sns.axes_style(STYLE["style"]), sns.plotting_context(STYLE["context"]):
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def save_figure(fig, path: str | os.PathLike, dpi: int = 150):
    """Save a matplotlib figure as PNG or a plotly figure as self-contained HTML, atomically."""
    log.debug("saving figure to %s", path)
    if hasattr(fig, "to_html"):  # plotly
        atomic_write_text(path, fig.to_html(include_plotlyjs=True, full_html=True))
    else:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        atomic_write_bytes(path, buf.getvalue())
    return fig


def _finish(fig, path):
    return save_figure(fig, path) if path is not None else fig


def _check_coords(coords, df):
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    if len(df) != len(coords):
        raise ValueError(f"coords has {len(coords)} rows but df has {len(df)}")
    return coords


def _categories(s: pd.Series) -> pd.Series:
    """Labels as strings for discrete colours; NA -> "NA", DBSCAN noise -1 stays "-1"."""
    return s.astype("string").fillna("NA").astype(str)


# ---- latent maps ----

def scatter_latent(coords: np.ndarray, df: pd.DataFrame, color: str = "cluster", hover: Sequence[str] = HOVER,
                   title: str | None = None, path=None):
    """Interactive 2-D map of the latent space (plotly), one point per row of ``df``.

    Parameters
    ----------
    coords : np.ndarray, shape (n, 2)
        UMAP / t-SNE / PCA coordinates (arbitrary units).
    df : pd.DataFrame, n rows
        Track or song table aligned with ``coords``.
    color : str
        Column coloured as discrete categories.
    hover : sequence of str
        Columns shown on hover; absent ones are skipped.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.express as px

    coords = _check_coords(coords, df)
    if color not in df.columns:
        raise KeyError(f"color column {color!r} not in df (columns: {list(df.columns)})")
    d = df.reset_index(drop=True).copy()
    d["dim 1"], d["dim 2"] = coords[:, 0], coords[:, 1]
    d[color] = _categories(d[color])
    hover_cols = [c for c in hover if c in d.columns]
    fig = px.scatter(d, x="dim 1", y="dim 2", color=color, hover_data=hover_cols, title=title,
                     category_orders={color: sorted(d[color].unique())},
                     color_discrete_sequence=px.colors.qualitative.Safe + px.colors.qualitative.Dark24)
    fig.update_traces(marker={"size": 7, "opacity": 0.8})
    fig.update_layout(template="plotly_white", legend_title_text=color, height=500)
    return _finish(fig, path)


def scatter_latent_static(coords: np.ndarray, df: pd.DataFrame, color: str = "cluster",
                          title: str | None = None, ax=None, path=None) -> Figure:
    """Static twin of :func:`scatter_latent` (for the PDF): points coloured by ``df[color]``."""
    coords = _check_coords(coords, df)
    if color not in df.columns:
        raise KeyError(f"color column {color!r} not in df (columns: {list(df.columns)})")
    if ax is None:
        fig, axes = _figure(figsize=(6.5, 5))
        ax = axes[0, 0]
    fig = ax.figure
    hue = _categories(df[color]).to_numpy()
    order = sorted(set(hue))
    sns.scatterplot(x=coords[:, 0], y=coords[:, 1], hue=hue, hue_order=order, ax=ax, s=25, alpha=0.8,
                    palette=sns.color_palette("tab20" if len(order) > 10 else STYLE["palette"], len(order)),
                    linewidth=0)
    ax.set(xlabel="dim 1 (a.u.)", ylabel="dim 2 (a.u.)", title=title or f"latent map coloured by {color}")
    if len(order) > 20:
        ax.get_legend().remove()
    else:
        ax.legend(title=color, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", frameon=False)
    return _finish(fig, path)


# ---- results across runs ----

def metric_across_runs(summary_df: pd.DataFrame, metric: str | Sequence[str] = ("silhouette", "ami"),
                       group: str = "run_name", path=None) -> Figure:
    """Mean ± std over seeds of one or more metrics per run, side by side (the report's Figure 1).

    Parameters
    ----------
    summary_df : pd.DataFrame
        One row per ``group`` with columns ``<m>_mean`` and, when there were several seeds,
        ``<m>_std``; optional ``<m>_chance`` (drawn as a grey tick) and ``n_seeds``.
    metric : str or sequence of str
        Metric names, e.g. ``"silhouette"`` (unitless, -1..1), ``"ami"`` (unitless, 0 = chance).
    group : str
        Column naming the run.

    Returns
    -------
    Figure with one panel per metric; error bars are ±1 std over seeds.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if group not in summary_df.columns:
        raise KeyError(f"group column {group!r} not in summary_df (columns: {list(summary_df.columns)})")
    missing = [f"{m}_mean" for m in metrics if f"{m}_mean" not in summary_df.columns]
    if missing:
        raise KeyError(f"summary_df lacks {missing} (columns: {list(summary_df.columns)})")
    runs = summary_df[group].astype(str).to_numpy()
    y = np.arange(len(runs))
    fig, axes = _figure(1, len(metrics), figsize=(3.8 * len(metrics) + 1.5, 0.45 * len(runs) + 1.6), sharey=True)
    for ax, m in zip(axes[0], metrics):
        mean = summary_df[f"{m}_mean"].to_numpy(float)
        std = summary_df[f"{m}_std"].to_numpy(float) if f"{m}_std" in summary_df else np.full(len(mean), np.nan)
        ax.errorbar(mean, y, xerr=np.nan_to_num(std), fmt="o", color="C0", ecolor="C0", capsize=3)
        if f"{m}_chance" in summary_df:
            ax.plot(summary_df[f"{m}_chance"].to_numpy(float), y, "|", color="0.5", markersize=12,
                    label="chance")
            ax.legend(loc="lower right", fontsize="small")
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set(xlabel=f"{m} (mean ± std over seeds)", yticks=y, yticklabels=runs)
    axes[0, 0].set_ylabel(group)
    axes[0, 0].invert_yaxis()
    if "n_seeds" in summary_df:
        fig.suptitle(f"seeds per run: {', '.join(map(str, sorted(set(summary_df['n_seeds']))))}", fontsize="small")
    return _finish(fig, path)


# ---- reconstructions ----

def _pick(x_in, x_out, n):
    x_in, x_out = np.asarray(x_in), np.asarray(x_out)
    if x_in.shape != x_out.shape:
        raise ValueError(f"x_in {x_in.shape} and x_out {x_out.shape} differ in shape")
    n = min(n, len(x_in))
    if n < 1:
        raise ValueError("no examples to plot")
    return x_in[:n], x_out[:n], n


def reconstructions_spectrogram(x_in: np.ndarray, x_out: np.ndarray, n: int = 4, units: str = "dB",
                                path=None) -> Figure:
    """Original (top row) vs reconstructed (bottom row) log-mel patches.

    Parameters
    ----------
    x_in, x_out : np.ndarray, shape (m, n_mels, frames)
        Input patches and the model's reconstructions (same scale, e.g. dB or standardised).
    n : int
        Number of examples shown (the first ``n``).
    units : str
        Colour-bar label of the values.
    """
    x_in, x_out, n = _pick(x_in, x_out, n)
    if x_in.ndim != 3:
        raise ValueError(f"expected shape (m, n_mels, frames), got {x_in.shape}")
    vmin, vmax = np.percentile(np.concatenate([x_in, x_out]), [1, 99])
    fig, axes = _figure(2, n, figsize=(2.6 * n + 1, 4.6), sharex=True, sharey=True)
    for j in range(n):
        for i, (x, name) in enumerate([(x_in[j], "original"), (x_out[j], "reconstruction")]):
            im = axes[i, j].imshow(x, origin="lower", aspect="auto", cmap=SPEC_CMAP, vmin=vmin, vmax=vmax)
            axes[i, j].grid(False)
            mse = float(np.mean((x_in[j] - x_out[j]) ** 2))
            axes[i, j].set_title(f"#{j} {name}" + (f"\nMSE {mse:.3g}" if i else ""), fontsize="small")
        axes[1, j].set_xlabel("frame")
    for i in range(2):
        axes[i, 0].set_ylabel("mel bin")
    cb = fig.colorbar(im, ax=axes, shrink=0.8)
    cb.set_label(f"log-mel ({units})", fontsize="x-small")
    cb.ax.tick_params(labelsize=6)
    return _finish(fig, path)


def reconstructions_vector(x_in: np.ndarray, x_out: np.ndarray, n: int = 4,
                           feature_names: Sequence[str] | None = None, path=None) -> Figure:
    """Original vs reconstructed feature vectors, one panel per example.

    Parameters
    ----------
    x_in, x_out : np.ndarray, shape (m, d)
        Input vectors (e.g. standardised descriptors or lyrics embeddings) and reconstructions.
    """
    x_in, x_out, n = _pick(x_in, x_out, n)
    if x_in.ndim != 2:
        raise ValueError(f"expected shape (m, d), got {x_in.shape}")
    d = x_in.shape[1]
    fig, axes = _figure(n, 1, figsize=(min(12, 3 + 0.12 * d), 1.8 * n + 0.6), sharex=True)
    idx = np.arange(d)
    for j in range(n):
        ax = axes[j, 0]
        ax.plot(idx, x_in[j], "-o", ms=2.5, lw=1, label="original")
        ax.plot(idx, x_out[j], "-o", ms=2.5, lw=1, label="reconstruction")
        mse = float(np.mean((x_in[j] - x_out[j]) ** 2))
        ax.set(ylabel="value (input units)", title=f"#{j}  MSE {mse:.3g}")
    axes[0, 0].legend(loc="upper right", fontsize="small")
    ax = axes[-1, 0]
    ax.set_xlabel("feature")
    if feature_names is not None and len(feature_names) == d and d <= 40:
        ax.set_xticks(idx, list(feature_names), rotation=90, fontsize="x-small")
    return _finish(fig, path)


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


# ---- training ----

_CURVES = [("loss", "loss (per item)"), ("recon", "reconstruction loss (per item)"),
           ("kl", "KL (nats per item)"), ("active_units", "active units (count)")]


def training_curves(history_df: pd.DataFrame, path=None) -> Figure:
    """Loss, reconstruction, KL and active units over epochs; panels without data are left out.

    Parameters
    ----------
    history_df : pd.DataFrame
        One row per epoch with any of ``epoch, train_loss, val_loss, train_recon, val_recon,
        train_kl, val_kl, active_units`` (``epoch`` defaults to the row number).
    """
    h = history_df.reset_index(drop=True)
    x = h["epoch"].to_numpy() if "epoch" in h else np.arange(1, len(h) + 1)
    panels = []
    for key, ylabel in _CURVES:
        cols = [c for c in (f"train_{key}", f"val_{key}", key) if c in h and h[c].notna().any()]
        if cols:
            panels.append((cols, ylabel))
    if not panels:
        raise ValueError(f"history has none of the known columns {[k for k, _ in _CURVES]} "
                         f"(columns: {list(h.columns)})")
    fig, axes = _figure(1, len(panels), figsize=(3.6 * len(panels), 3.2), sharex=True)
    for ax, (cols, ylabel) in zip(axes[0], panels):
        for c in cols:
            ax.plot(x, h[c].to_numpy(float), "-o", ms=2.5, label=c.split("_")[0] if c.startswith(("train_", "val_")) else c)
        ax.set(xlabel="epoch", ylabel=ylabel)
        if len(cols) > 1:
            ax.legend(fontsize="small")
    return _finish(fig, path)


def most_active_dims(mu: np.ndarray, k: int = 4, threshold: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Latent dimensions ranked by the variance of their posterior mean over the data.

    Parameters
    ----------
    mu : np.ndarray, shape (n, d)
        Posterior means.
    k : int
        How many dimensions to return.
    threshold : float
        A dimension is "active" when Var(mu) > threshold (Burda et al. 2016).

    Returns
    -------
    dims : np.ndarray (<= k,) int, most active first; only active ones
    var : np.ndarray (d,) variance of each dimension
    """
    var = np.var(np.asarray(mu, dtype=np.float64), axis=0)
    order = np.argsort(-var)
    return order[var[order] > threshold][:k], var


def latent_traversal(decode_fn: Callable[[np.ndarray], np.ndarray], z_base: np.ndarray, dims: Sequence[int],
                     params: dict, values: Sequence[float] = (-2, -1, 0, 1, 2), units: str = "model input scale",
                     path=None) -> Figure:
    """Decoded log-mel patches on a time (s) x frequency (Hz) grid while one latent dimension moves.

    Row ``i`` sets dimension ``dims[i]`` to each of ``values`` in turn, the other dimensions stay
    at ``z_base``; all panels share one colour scale (1st-99th percentile of the decoded values).

    Parameters
    ----------
    decode_fn : callable
        ``(m, d) float32 -> (m, n_mels, frames)`` numpy (e.g. a wrapped ``model.decode``).
    z_base : np.ndarray, shape (d,)
        Starting latent point (e.g. the mean of the posterior means).
    dims : sequence of int
        Dimensions to traverse, one row each (see :func:`most_active_dims`).
    params : dict with ``sr`` (Hz), ``hop_length`` (samples), ``fmin``, ``fmax`` (Hz; None = sr / 2)
        of the patches the model was trained on (``summary.log_mel_params``).
    values : sequence of float
        Values set on the traversed dimension (in latent units; the prior has std 1).
    units : colour-bar label of the decoded values.

    Returns
    -------
    Figure with ``len(dims) x len(values)`` spectrogram panels and a colour bar.
    """
    out, dims, values = _traverse(decode_fn, z_base, dims, values)
    vmin, vmax = np.percentile(out, [1, 99])
    kw = _specshow_kw(params, vmin, vmax)
    fig, axes = _figure(len(dims), len(values), figsize=(1.7 * len(values) + 1.2, 1.6 * len(dims) + 0.6),
                        sharex=True, sharey=True)
    for i, d in enumerate(dims):
        for j, v in enumerate(values):
            im = _spec_panel(axes[i, j], out[i, j], kw, title=f"z[{d}] = {v:+.1f}",
                             xlabel=i == len(dims) - 1, ylabel=j == 0)
    _spec_colorbar(fig, im, axes, f"decoded log-mel ({units})")
    return _finish(fig, path)


def _traverse(decode_fn, z_base, dims, values) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Decode ``z_base`` with each of ``dims`` set to each of ``values``: (len(dims), len(values), n_mels, frames)."""
    z_base = np.asarray(z_base, dtype=np.float32).ravel()
    dims, values = list(dims), np.asarray(values, dtype=np.float32)
    if not dims or len(values) == 0:
        raise ValueError("need at least one dimension and one value")
    bad = [d for d in dims if not 0 <= d < len(z_base)]
    if bad:
        raise ValueError(f"dims {bad} outside 0..{len(z_base) - 1}")
    Z = np.repeat(z_base[None, None, :], len(dims), 0).repeat(len(values), 1)  # (dims, values, d)
    for i, d in enumerate(dims):
        Z[i, :, d] = values
    out = np.asarray(decode_fn(Z.reshape(-1, len(z_base))))
    if out.ndim != 3 or out.shape[0] != Z.shape[0] * Z.shape[1]:
        raise ValueError(f"decode_fn must return (m, n_mels, frames) with m={Z.shape[0] * Z.shape[1]}, got {out.shape}")
    return out.reshape(len(dims), len(values), *out.shape[1:]), dims, values


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


# ---- latent maps: a grid for print, one explorer for the HTML ----

def _legend_outside(ax, title, n):
    if n > 20:
        if ax.get_legend():
            ax.get_legend().remove()
        return
    ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small",
              title_fontsize="x-small", frameon=False, markerscale=0.8, ncols=1 if n <= 10 else 2)


def latent_map_grid(maps: dict, meta: pd.DataFrame, color: str, ncols: int = 3, path=None) -> Figure:
    """Static 2-D maps side by side, all coloured by ``color``, legends beside the panels (never on points).

    Parameters
    ----------
    maps : dict name -> DataFrame ``track_id, x, y, cluster`` (``embed2d.save_maps``).
    meta : tracks indexed by ``track_id`` (str) with ``color`` unless it is ``"cluster"``.
    color : column to colour by (``"cluster"``: each map's own K-Means clusters).
    """
    if not maps:
        raise ValueError("no maps to plot")
    n = len(maps)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = _figure(nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows))
    for ax, (name, e) in zip(axes.ravel(), maps.items()):
        hue = e["cluster"] if color == "cluster" else meta.reindex(e["track_id"].astype(str))[color]
        hue = _categories(pd.Series(np.asarray(hue))).to_numpy()
        order = sorted(set(hue))
        sns.scatterplot(x=e["x"].to_numpy(), y=e["y"].to_numpy(), hue=hue, hue_order=order, ax=ax, s=14,
                        alpha=0.8, linewidth=0,
                        palette=sns.color_palette("tab20" if len(order) > 10 else STYLE["palette"], len(order)))
        ax.set_title(name, fontsize="small")
        ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
        _legend_outside(ax, color, len(order))
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return _finish(fig, path)


def latent_explorer(maps: dict, meta: pd.DataFrame, colors: Sequence[str], path=None):
    """One interactive figure for every 2-D map: a dropdown picks the map, another the colouring.

    Parameters
    ----------
    maps : dict name -> DataFrame ``track_id, x, y``.
    meta : tracks indexed by ``track_id`` (str); ``artist``, ``title`` and ``colors`` shown on hover.
    colors : columns of ``meta`` to colour by, e.g. the labels and the clusters of ``clusters.csv``
        (one clustering for every map, so switching maps keeps the colours meaningful).

    Returns
    -------
    plotly Figure: one trace per (colouring, class), points of songs absent from a map at NaN.
    """
    import plotly.graph_objects as go
    import plotly.express as px

    if not maps:
        raise ValueError("no maps to plot")
    ids = pd.Index(sorted({str(t) for e in maps.values() for t in e["track_id"]}))
    xy = {name: e.assign(track_id=e["track_id"].astype(str)).set_index("track_id").reindex(ids) for name, e in maps.items()}
    first = next(iter(xy))
    info = meta.reindex(ids)
    missing = [c for c in colors if c not in info]
    if missing:
        raise KeyError(f"colour column(s) {missing} not in meta (columns: {list(info.columns)})")
    label_cols = list(colors)
    hover_cols = [c for c in ("artist", "title") if c in info]
    palette = px.colors.qualitative.Safe + px.colors.qualitative.Dark24
    fig, traces = go.Figure(), []  # traces: (colouring, mask)
    for color in colors:
        values = _categories(info[color]).to_numpy()
        for i, v in enumerate(sorted(set(values))):
            mask = values == v
            fig.add_trace(go.Scatter(
                x=xy[first]["x"].to_numpy()[mask], y=xy[first]["y"].to_numpy()[mask], mode="markers", name=v,
                legendgroup=color, visible=color == colors[0], marker={"size": 7, "opacity": 0.8, "color": palette[i % len(palette)]},
                customdata=np.column_stack([_hover_text(info[mask], hover_cols, label_cols)]),
                hovertemplate="%{customdata[0]}<extra></extra>"))
            traces.append((color, mask))
    vis = [dict(label=f"colour: {c}", method="restyle", args=[{"visible": [t == c for t, _ in traces]}]) for c in colors]
    pos = [dict(label=f"map: {name}", method="restyle",
                args=[{"x": [e["x"].to_numpy()[m] for _, m in traces], "y": [e["y"].to_numpy()[m] for _, m in traces]}])
           for name, e in xy.items()]
    fig.update_layout(template="plotly_white", height=580, title={"text": "Latent maps: pick a map and a colouring; hover a point", "y": 0.97},
                      xaxis_title="dim 1 (a.u.)", yaxis_title="dim 2 (a.u.)", margin={"t": 90},
                      updatemenus=[dict(buttons=pos, x=0.0, y=1.02, xanchor="left", yanchor="bottom"),
                                   dict(buttons=vis, x=0.5, y=1.02, xanchor="left", yanchor="bottom")])
    return _finish(fig, path)


def _hover_text(info: pd.DataFrame, hover_cols, label_cols) -> np.ndarray:
    name = info[hover_cols].astype("string").fillna("?").agg(" – ".join, axis=1) if hover_cols else pd.Series("", index=info.index)
    labels = info[label_cols].astype("string").fillna("NA") if label_cols else None
    out = name.astype(str)
    if labels is not None:
        out = out + "<br>" + labels.apply(lambda r: ", ".join(f"{c}: {r[c]}" for c in label_cols), axis=1)
    return out.to_numpy()


# ---- spectrograms in seconds and Hz ----

def reconstructions_specshow(x_in: np.ndarray, x_out: np.ndarray, params: dict, n: int = 4, units: str = "model input scale",
                             path=None) -> Figure:
    """Original (top) vs reconstructed (bottom) log-mel patches on a time (s) x frequency (Hz) grid.

    Parameters
    ----------
    x_in, x_out : np.ndarray, shape (m, n_mels, frames)
    params : dict with ``sr`` (Hz), ``hop_length`` (samples), ``fmin``, ``fmax`` (Hz; None = sr / 2)
        of the patches (``summary.log_mel_params``).
    units : colour-bar label of the values.
    """
    return _specshow_pairs(x_in, x_out, params, n, units, path)


def _specshow_pairs(x_in, x_out, params, n, units, path) -> Figure:
    x_in, x_out, n = _pick(x_in, x_out, n)
    if x_in.ndim != 3:
        raise ValueError(f"expected shape (m, n_mels, frames), got {x_in.shape}")
    vmin, vmax = np.percentile(np.concatenate([x_in, x_out]), [1, 99])
    kw = _specshow_kw(params, vmin, vmax)
    fig, axes = _figure(2, n, figsize=(1.7 * n + 1.2, 3.6), sharex=True, sharey=True)
    for j in range(n):
        mse = float(np.mean((x_in[j] - x_out[j]) ** 2))
        for i, (x, name) in enumerate([(x_in[j], "original"), (x_out[j], f"reconstr., MSE {mse:.2g}")]):
            im = _spec_panel(axes[i, j], x, kw, title=f"#{j} {name}", xlabel=i == 1, ylabel=j == 0)
    _spec_colorbar(fig, im, axes, f"log-mel ({units})")
    return _finish(fig, path)


def _specshow_kw(params: dict, vmin: float, vmax: float) -> dict:
    """``librosa.display.specshow`` arguments: frames -> time (s), mel bins -> frequency (Hz) from ``params``."""
    return dict(sr=params["sr"], hop_length=params["hop_length"], x_axis="s", y_axis="mel",
                fmin=params.get("fmin") or 0.0, fmax=params.get("fmax") or params["sr"] / 2, cmap=SPEC_CMAP,
                vmin=vmin, vmax=vmax)


def _spec_panel(ax, x: np.ndarray, kw: dict, title: str, xlabel: bool, ylabel: bool):
    """One (n_mels, frames) patch drawn by ``specshow`` on ``ax``; axis labels where asked. Returns the QuadMesh."""
    import warnings

    from matplotlib.ticker import MaxNLocator

    with warnings.catch_warnings():  # librosa loads tqdm lazily: "IProgress not found" would land in the report
        warnings.filterwarnings("ignore", message="IProgress not found")
        import librosa.display

        im = librosa.display.specshow(x, ax=ax, **kw)
    ax.set_title(title, fontsize="x-small")
    ax.set_xlabel("time (s)" if xlabel else "", fontsize="x-small")
    ax.set_ylabel("frequency (Hz)" if ylabel else "", fontsize="x-small")
    ax.xaxis.set_major_locator(MaxNLocator(3))
    ax.tick_params(labelsize=6)
    return im


def _spec_colorbar(fig, im, axes, label: str) -> None:
    cb = fig.colorbar(im, ax=axes, shrink=0.8)
    cb.set_label(label, fontsize="x-small")
    cb.ax.tick_params(labelsize=6)


def composition_heatmaps(clusters: np.ndarray, labels: dict, title: str | None = None, path=None) -> Figure:
    """:func:`composition_heatmap` for several label columns side by side (shares of each cluster).

    Parameters
    ----------
    clusters : np.ndarray, shape (n,), int
        Cluster of each song.
    labels : dict column name -> np.ndarray (n,) of that column's values for the same songs.
    """
    if not labels:
        raise ValueError("no label column to describe the clusters with")
    tabs = {col: composition_table(clusters, y, normalize=True) for col, y in labels.items()}
    n_rows = max(t.shape[0] for t in tabs.values())
    widths = [max(1.2, 0.45 * t.shape[1]) for t in tabs.values()]
    fig, axes = _figure(1, len(tabs), figsize=(sum(widths) + 1.4 * len(tabs), 0.32 * n_rows + 1.5),
                        gridspec_kw={"width_ratios": widths})
    for ax, (col, tab) in zip(axes[0], tabs.items()):
        sns.heatmap(tab, annot=tab.size <= 200, fmt=".2f", cmap="Blues", vmin=0, vmax=1, ax=ax, cbar=False,
                    annot_kws={"fontsize": 7})
        ax.set_xlabel(col, fontsize="small")
        ax.set_ylabel("cluster", fontsize="small")
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize="small")
    return _finish(fig, path)
