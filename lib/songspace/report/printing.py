"""The report printed: PDF through headless Chromium, and the checks of printed pages (page count, words
cut at the edge, content overflowing it) that the tests use.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from songspace.cache import atomic_write_bytes

log = logging.getLogger(__name__)

CHROMIUM_HINT = "chromium not installed: run scripts/install_chromium.sh (apt-get install chromium)"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                  "--virtual-time-budget=10000"]


class ReportError(RuntimeError):
    """The notebook or the rendering cannot give an honest report; the message says why."""


class ChromiumNotFound(ReportError):
    pass


# ---- Chromium: PDF and screenshots ----

def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary (``$SONGSPACE_CHROMIUM`` first), or None."""
    env = os.environ.get("SONGSPACE_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if p := shutil.which(name):
            return p
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _chromium(args: list[str], out: Path, timeout: float) -> None:
    exe = find_chromium()
    if exe is None:
        raise ChromiumNotFound(CHROMIUM_HINT)
    # Headless Chromium very occasionally hangs on start-up (seen once in ~20 runs): one retry.
    for attempt in (1, 2):
        with tempfile.TemporaryDirectory(prefix="songspace-chromium-") as profile:
            cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
            try:
                r = _run(cmd, timeout)
                break
            except subprocess.TimeoutExpired:
                if attempt == 2:
                    raise ReportError(f"chromium did not finish within {timeout:.0f} s (twice) writing {out}") from None
                log.warning("chromium timed out after %.0f s writing %s; retrying once", timeout, out)
    if r.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        raise ReportError(f"chromium failed to write {out} (exit {r.returncode}):\n{r.stderr[-2000:]}")


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)``, except that a timeout kills
    the whole process group: a wrapper script's chromium, or chromium's renderer and GPU processes, would
    otherwise outlive the kill, keep running and hold the output pipes open (so the wait never ended)."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def _render(html: Path, out: Path, args, timeout: float) -> bytes:
    """Bytes Chromium writes for ``html`` with ``args(part_path)``, via a temp folder beside ``out``."""
    if not html.is_file():
        raise FileNotFoundError(f"{html}: HTML to render not found")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.suffix.lstrip('.')}-") as tmp:
        part = Path(tmp) / f"out{out.suffix}"
        _chromium(args(part), part, timeout)
        return part.read_bytes()


def html_to_pdf(html: str | os.PathLike, pdf: str | os.PathLike, timeout: float = 60) -> Path:
    """Print an HTML file to PDF with headless Chromium (offline), atomically.

    Raises :class:`ChromiumNotFound` ("chromium not installed: run scripts/install_chromium.sh")
    when no browser is found, :class:`ReportError` when printing fails.
    """
    html, pdf = Path(html).resolve(), Path(pdf).resolve()
    data = _render(html, pdf, lambda part: [f"--print-to-pdf={part}", html.as_uri()], timeout)
    if not data.startswith(b"%PDF"):
        raise ReportError(f"chromium wrote something that is not a PDF for {html}")
    return atomic_write_bytes(pdf, data)


def screenshot(html: str | os.PathLike, png: str | os.PathLike, width: int = 1280, height: int = 1600,
               timeout: float = 60) -> Path:
    """PNG screenshot (``width`` x ``height`` px, top of the page) of an HTML file in headless Chromium."""
    html, png = Path(html).resolve(), Path(png).resolve()
    data = _render(html, png, lambda part: [f"--screenshot={part}", f"--window-size={width},{height}",
                                            "--hide-scrollbars", html.as_uri()], timeout)
    return atomic_write_bytes(png, data)


# ---- looking at the PDF ----

POPPLER_HINT = "pdftoppm not installed: apt-get install poppler-utils (make chromium does it)"


def page_count(pdf: str | os.PathLike) -> int:
    """Number of pages of a PDF (its ``/Type /Page`` objects; Chromium writes them uncompressed)."""
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", Path(pdf).read_bytes()))


def pdf_pages(pdf: str | os.PathLike, out_dir: str | os.PathLike, dpi: int = 50, first: int | None = None,
              last: int | None = None) -> list[Path]:
    """Render PDF pages to PNG with poppler's ``pdftoppm``; returns the PNG paths in page order."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise ReportError(POPPLER_HINT)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    r = subprocess.run([exe, "-r", str(dpi), "-png", *rng, str(pdf), str(out_dir / "page")],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise ReportError(f"pdftoppm failed on {pdf}: {r.stderr[-1000:]}")
    return sorted(out_dir.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


PRINT_MARGIN_MM = 10  # left/right margin of both page kinds in REPORT_CSS
PRINT_GUTTER_MM = 2  # left/right margin of the body in print (REPORT_CSS): what fits ends this far inside the content box


def words_cut_at_edge(pdf: str | os.PathLike, margin_mm: float = PRINT_MARGIN_MM, tol_pt: float = 1.0) -> list[tuple]:
    """Words printed beyond the right edge of a page's content box: a table or text cut at the edge.

    Chromium clips what is wider than the page at the content box: wholly hidden words vanish, but
    the word straddling the edge stays, its box reaching past the edge. Uses ``pdftotext -bbox``.

    Returns
    -------
    list of (page number, word, right edge in pt, content edge in pt); empty when nothing is cut.
    """
    exe = shutil.which("pdftotext")
    if exe is None:
        raise ReportError(POPPLER_HINT)
    r = subprocess.run([exe, "-bbox", str(pdf), "-"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise ReportError(f"pdftotext failed on {pdf}: {r.stderr[-1000:]}")
    cut, margin = [], margin_mm / 25.4 * 72
    for n, (width, words) in enumerate(re.findall(r'<page width="([\d.]+)"[^>]*>(.*?)</page>', r.stdout, re.S), start=1):
        edge = float(width) - margin
        for x_max, word in re.findall(r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>(.*?)</word>', words):
            if float(x_max) > edge + tol_pt:
                cut.append((n, word, float(x_max), edge))
    return cut


def content_overflow(pdf: str | os.PathLike, out_dir: str | os.PathLike | None = None, margin_mm: float = PRINT_MARGIN_MM,
                     strip_mm: float = 0.5, min_ink_mm: float = 1.0, dpi: int = 100,
                     ink_below: float = 240) -> list[tuple[int, float]]:
    """Pages where ink reaches the right edge of the content box: something wider than the page was cut.

    Chromium silently clips whatever is wider than the page (a figure, a fixed-width block, a
    table) at the page's content box, and text checks (:func:`words_cut_at_edge`) cannot see a cut
    image. In print, :data:`REPORT_CSS` lets no output box clip (so a cut happens at the content
    box, not unseen inside it) and keeps the body :data:`PRINT_GUTTER_MM` inside the content box,
    so everything that fits ends at least that far from its right edge, while a clipped element
    runs right up to it. This renders the pages (``pdftoppm``, :func:`pdf_pages`) and looks at the strip
    from ``strip_mm`` before the right content edge to the paper's edge (the margin included, in
    case a renderer lets content overflow into it).

    A cut through a blank part of a figure leaves no ink in the strip and is not seen.

    Parameters
    ----------
    pdf : path
        PDF printed from the report's HTML (portrait and landscape pages, both with ``margin_mm``).
    out_dir : path, optional
        Folder for the page PNGs (kept, e.g. as test artefacts); a temporary folder when None.
    margin_mm : float
        Right margin of the pages (mm).
    strip_mm : float
        Width (mm) of the strip inside the content box where ink means a cut; well below
        ``PRINT_GUTTER_MM``, which Chromium may shrink when it scales a too-wide page down to fit.
    min_ink_mm : float
        Least total height (mm) of pixel rows with ink in the strip for a page to count (ignores a stray pixel).
    dpi : int
        Rendering resolution (pixels per inch).
    ink_below : float
        Grey level (0-255) under which a pixel is ink; table stripes (#f4f4f4) are not.

    Returns
    -------
    list of (page number, height in mm of the rows with ink in the strip); empty when nothing is cut.
    """
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="songspace-pages-") as tmp:
            return content_overflow(pdf, tmp, margin_mm, strip_mm, min_ink_mm, dpi, ink_below)
    cut = []
    for n, png in enumerate(pdf_pages(pdf, out_dir, dpi=dpi), start=1):
        ink_mm = _ink_rows_at_right_edge(png, margin_mm, strip_mm, dpi, ink_below)
        if ink_mm >= min_ink_mm:
            cut.append((n, round(ink_mm, 1)))
    return cut


def _ink_rows_at_right_edge(png: Path, margin_mm: float, strip_mm: float, dpi: int, ink_below: float) -> float:
    """Height (mm) of the pixel rows of a page image with ink right of ``strip_mm`` before the content edge."""
    import numpy as np
    from matplotlib.image import imread

    px = imread(png)  # (rows, cols, channels), floats in 0..1
    grey = (px[..., :3].mean(axis=2) if px.ndim == 3 else px) * 255
    mm = dpi / 25.4  # pixels per mm
    first = int(np.floor(grey.shape[1] - (margin_mm + strip_mm) * mm))
    rows = (grey[:, first:] < ink_below).any(axis=1)
    return float(rows.sum() / mm)
