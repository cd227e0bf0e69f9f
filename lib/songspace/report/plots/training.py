"""Training drawn: loss curves, a metric across runs, and reconstructions (spectrograms with
``librosa.display.specshow``, feature vectors as bars).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from songspace.report.plots.style import SPEC_CMAP, _figure, _finish

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
