"""Latent spaces drawn: 2-D maps coloured by label (static and interactive), the explorer, the most active
latent dimensions and traversals along them.
"""
from __future__ import annotations

import html
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from songspace.report.plots.style import (
    HOVER,
    STYLE,
    _categories,
    _check_coords,
    _figure,
    _finish,
    _legend_outside,
)
from songspace.report.plots.training import _spec_colorbar, _spec_panel, _specshow_kw

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


def latent_map_grid(maps: dict, meta: pd.DataFrame, color: str, ncols: int = 3, path=None) -> Figure:
    """Static 2-D maps side by side, all coloured by ``color``, legends beside the panels (never on points).

    Parameters
    ----------
    maps : dict name -> DataFrame ``track_id, x, y, cluster`` (``projection.save_maps``).
    meta : tracks indexed by ``track_id`` (str) with ``color`` unless it is ``"cluster"``.
    color : column to colour by (``"cluster"``: each map's own K-Means clusters).
    """
    if not maps:
        raise ValueError("no maps to plot")
    n = len(maps)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = _figure(nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows))
    hues = {name: _categories(pd.Series(np.asarray(
        e["cluster"] if color == "cluster" else meta.reindex(e["track_id"].astype(str))[color]))).to_numpy()
        for name, e in maps.items()}
    # One colour per class across the panels (a label's class keeps its colour when a panel lacks another
    # class); each map's own clusters are not the same clusters, so they share only the palette.
    every = sorted(set().union(*map(set, hues.values())))
    colours = dict(zip(every, sns.color_palette("tab20" if len(every) > 10 else STYLE["palette"], len(every))))
    for ax, (name, e) in zip(axes.ravel(), maps.items()):
        hue = hues[name]
        order = sorted(set(hue))
        sns.scatterplot(x=e["x"].to_numpy(), y=e["y"].to_numpy(), hue=hue, hue_order=order, ax=ax, s=14,
                        alpha=0.8, linewidth=0, palette={h: colours[h] for h in order})
        ax.set_title(name, fontsize="small")
        ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
        _legend_outside(ax, color, len(order))
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return _finish(fig, path)


def latent_explorer(maps: dict, meta: pd.DataFrame, colors: Sequence[str], audio: pd.DataFrame | None = None,
                    path=None):
    """One interactive figure for every 2-D map: a dropdown picks the map, another the colouring.

    Parameters
    ----------
    maps : dict name -> DataFrame ``track_id, x, y``.
    meta : tracks indexed by ``track_id`` (str); on hover: its ``name`` column (``export.song_names``) or
        else ``artist – title``, then every one of ``colors``.
    colors : columns of ``meta`` to colour by, e.g. the labels and the clusters of ``clusters.csv``
        (one clustering for every map, so switching maps keeps the colours meaningful).
    audio : ``player.audio_sources`` (``rel``, ``path`` per track id), optional: carried per point for the
        click-to-play script of ``player.player_html``.

    Returns
    -------
    plotly Figure: one trace per (colouring, class), points of songs absent from a map at NaN;
    ``customdata`` per point = (hover text (escaped HTML), audio URL relative to the report, absolute audio path,
    the song's name as plain text);
    ``layout.meta`` = ``player.EXPLORER_META``.
    """
    import plotly.express as px
    import plotly.graph_objects as go

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
    hover_cols = ["name"] if "name" in info else [c for c in ("artist", "title") if c in info]
    src = (audio.reindex(ids) if audio is not None else pd.DataFrame(index=ids, columns=["rel", "path"])).fillna("")
    palette = px.colors.qualitative.Safe + px.colors.qualitative.Dark24
    fig, traces = go.Figure(), []  # traces: (colouring, mask)
    for color in colors:
        values = _categories(info[color]).to_numpy()
        for i, v in enumerate(sorted(set(values))):
            mask = values == v
            fig.add_trace(go.Scatter(
                x=xy[first]["x"].to_numpy()[mask], y=xy[first]["y"].to_numpy()[mask], mode="markers",
                name=html.escape(v),
                legendgroup=color, visible=color == colors[0], marker={"size": 7, "opacity": 0.8, "color": palette[i % len(palette)]},
                customdata=np.column_stack([_hover_text(info[mask], hover_cols, label_cols),
                                            src["rel"].to_numpy()[mask], src["path"].to_numpy()[mask],
                                            _names(info[mask], hover_cols)]),
                hovertemplate="%{customdata[0]}<extra></extra>"))
            traces.append((color, mask))
    vis = [dict(label=f"colour: {c}", method="restyle", args=[{"visible": [t == c for t, _ in traces]}]) for c in colors]
    pos = [dict(label=f"map: {name}", method="restyle",
                args=[{"x": [e["x"].to_numpy()[m] for _, m in traces], "y": [e["y"].to_numpy()[m] for _, m in traces]}])
           for name, e in xy.items()]
    from songspace.report.plots.player import EXPLORER_META

    hint = "hover a point" + ("; click it to play" if audio is not None else "")
    fig.update_layout(template="plotly_white", height=580, meta=EXPLORER_META,
                      title={"text": f"Latent maps: pick a map and a colouring; {hint}", "y": 0.97},
                      xaxis_title="dim 1 (a.u.)", yaxis_title="dim 2 (a.u.)", margin={"t": 90},
                      updatemenus=[dict(buttons=pos, x=0.0, y=1.02, xanchor="left", yanchor="bottom"),
                                   dict(buttons=vis, x=0.5, y=1.02, xanchor="left", yanchor="bottom")])
    return _finish(fig, path)


def _names(info: pd.DataFrame, hover_cols) -> np.ndarray:
    """Each point's song name, plain text (the player's status line sets it as text)."""
    if not hover_cols:
        return np.full(len(info), "", dtype=object)
    return info[hover_cols].astype("string").fillna("?").agg(" – ".join, axis=1).astype(str).to_numpy()


def _hover_text(info: pd.DataFrame, hover_cols, label_cols) -> np.ndarray:
    """Name and labels of each point for the hover label, HTML-escaped: plotly draws ``<b>``, ``<br>`` and
    ``<a>`` of a text as markup, so a tag ``<b>Bold</b>`` would show bold."""
    out = pd.Series(_names(info, hover_cols), index=info.index).map(html.escape)
    if label_cols:
        labels = info[label_cols].astype("string").fillna("NA")
        out = out + "<br>" + labels.apply(lambda r: html.escape(", ".join(f"{c}: {r[c]}" for c in label_cols)), axis=1)
    return out.to_numpy()
