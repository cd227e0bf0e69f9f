"""How every figure is set up and saved: the notebook's renderers and style, and atomic PNG writes.

Static functions build a ``matplotlib.figure.Figure`` without pyplot, so a figure shows once
in a notebook (after :func:`setup_notebook`) and nothing piles up in pyplot's figure list.
``path=...`` also saves it (PNG, atomically). Inputs are plain numpy arrays and DataFrames.
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import random
import sys
import warnings

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from songspace.cache import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

STYLE = {"style": "whitegrid", "context": "notebook", "palette": "colorblind"}
SPEC_CMAP = "magma"
HOVER = ("artist", "title", "language", "genre", "cluster")


# Song and artist names come in every script, and DejaVu Sans (matplotlib's default) has no CJK or Hangul
# glyphs: figures fall back to the first of these that is installed, glyph by glyph (matplotlib's font
# fallback over ``font.family``). ``make`` installs the first (scripts/install_fonts.sh).
FALLBACK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK JP", "Droid Sans Fallback")
_FALLBACK_FILES = ("wqymicrohei", "notosanscjk", "droidsansfallback")  # their file names, lower case, no - or _


@functools.cache  # once per process: without a fallback font every figure would scan the system's fonts again
def font_fallback() -> tuple[str, ...]:
    """The installed ``FALLBACK_FONTS`` (family names), ``()`` when none is. A font installed after
    matplotlib cached its font list is added from its file."""
    from matplotlib import font_manager

    def known():
        return {f.name for f in font_manager.fontManager.ttflist} & set(FALLBACK_FONTS)

    if not known():
        for path in font_manager.findSystemFonts():
            stem = os.path.basename(path).lower().replace("-", "").replace("_", "")
            if any(k in stem for k in _FALLBACK_FILES):
                font_manager.fontManager.addfont(path)
    found = known()
    return tuple(f for f in FALLBACK_FONTS if f in found)


def font_family() -> list[str]:
    """``font.family`` for every figure: the theme's sans-serif, then the installed fallbacks."""
    return ["sans-serif", *font_fallback()]


# Both renderers, in one output: JupyterLab draws the application/vnd.plotly.v1+json mimetype
# (plotly's lab extension); nbconvert/HTML export, which drops that mimetype, draws the text/html
# part of the "notebook" renderer (plotly.js embedded once, so the HTML works offline).
PLOTLY_RENDERER = "plotly_mimetype+notebook"


def setup_notebook(seed: int = 0, log_level: int | str = "INFO") -> None:
    """Fix the look, the randomness and the messages of a notebook; call it in the first cell.

    Sets plotly's renderer to ``"plotly_mimetype+notebook"`` (each figure carries the plotly
    mimetype for JupyterLab and HTML with plotly.js embedded for the exported report, offline),
    the seaborn theme with a font fallback for CJK and Hangul names (:func:`font_fallback`), PNG display
    of matplotlib figures, shows songspace's log messages at ``log_level`` in the cell output
    (``songspace.log.setup_logging``), and seeds ``random`` and ``numpy``.
    """
    import matplotlib

    from songspace.log import setup_logging

    _use_plotly_renderer(PLOTLY_RENDERER)
    sns.set_theme(**STYLE)
    matplotlib.rcParams["font.family"] = font_family()
    random.seed(seed)
    np.random.seed(seed)
    setup_logging(log_level, stream="stdout")
    # An emoji in a song or album name ("Noches de La Habana 🎺") has no glyph in any font the stack ships
    # (no colour emoji font offline): matplotlib draws a box and warns per figure, with the venv's path, into
    # the report. The names are whole in every table and in the interactive maps; only the box stays.
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
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


@contextlib.contextmanager
def _style():
    """The report's style for the figures and axes made inside it (``_figure``, or a layout of one's own)."""
    # axes_style resets font.family: the fallback goes in with it, or tick labels lose it
    with sns.axes_style(STYLE["style"], rc={"font.family": font_family()}), sns.plotting_context(STYLE["context"]):
        yield


def _figure(nrows=1, ncols=1, figsize=(6, 4), **kw) -> tuple[Figure, np.ndarray]:
    with _style():
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


# ---- latent maps: a grid for print, one explorer for the HTML ----

def _legend_outside(ax, title, n):
    if n > 20:
        if ax.get_legend():
            ax.get_legend().remove()
        return
    ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small",
              title_fontsize="x-small", frameon=False, markerscale=0.8, ncols=1 if n <= 10 else 2)
