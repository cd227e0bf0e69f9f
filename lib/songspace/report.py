"""Executed notebook -> self-contained HTML (code hidden) -> PDF through headless Chromium.

Two renderings of the same executed notebook:

- ``variant="html"`` (results/report.html): everything, interactive plotly figures included
  (plotly.js embedded once by the ``"notebook"`` half of the ``"plotly_mimetype+notebook"``
  renderer, see ``plots.setup_notebook``).
- ``variant="pdf"``: what prints well. Interactive figures print badly, so the notebook shows each
  interactive figure next to a static matplotlib twin and this variant drops the interactive one.

Cell tags that steer the two variants:

- ``interactive``: the cell's outputs are dropped from the PDF (plotly outputs are dropped from the
  PDF even without the tag);
- ``pdf-only``: the cell is dropped from the HTML (e.g. a static twin the HTML does not need);
- ``remove``: the cell is dropped from both.

Layout (:data:`REPORT_CSS`, added by :func:`layout`): the HTML gets a table of contents of its ``h2``
sections beside a column of readable width; the PDF is A4 portrait, outputs may break across pages,
and tables wrapped by ``summary.html_table(..., wide=True)`` print on landscape pages of their own.
:func:`page_count`, :func:`pdf_pages`, :func:`words_cut_at_edge` (text) and :func:`content_overflow`
(pixels: figures too) let tests look at the printed pages.
"""
from __future__ import annotations

import copy
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

from songspace.cache import atomic_write_bytes, atomic_write_text
from songspace.config import RESULT_FILES

log = logging.getLogger("songspace.report")  # not __name__: "__main__" under python -m

PLOTLY_MIME = "application/vnd.plotly.v1+json"
INTERACTIVE_TAG, PDF_ONLY_TAG, REMOVE_TAG = "interactive", "pdf-only", "remove"
CHROMIUM_HINT = "chromium not installed: run scripts/install_chromium.sh (apt-get install chromium)"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                  "--virtual-time-budget=10000"]
_PLOTLYJS = re.compile(r"<script[^>]*>\s*/\*\*\s*\*\s*plotly\.js v\d")
_CDN_PLOTLY = re.compile(r"<script[^>]*\bsrc=[\"'][^\"']*(cdn\.plot\.ly|plotly[^\"'/]*\.js)", re.I)


# Layout of the report. Screen: a table of contents beside a column of readable width. Print: A4
# portrait, wide tables on landscape pages of their own (``page: wide``), nothing wider than the page.
REPORT_CSS = """
<style id="songspace-report">
body { font-size: 14px; }
main, .jp-Notebook { max-width: 1000px; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
.ss-table-wrap { overflow-x: auto; margin: 0.4em 0 0.8em 0; }
table.ss-table { border-collapse: collapse; font-size: 11px; margin: 0 !important; }
table.ss-table th, table.ss-table td { padding: 1px 6px !important; text-align: left !important; white-space: nowrap; }
table.ss-table tr:nth-child(even) { background: #f4f4f4; }
.ss-caption { font-size: 12px; color: #444; margin: 0.2em 0; }
nav.ss-toc { position: fixed; top: 0; left: 0; width: 210px; height: 100vh; overflow-y: auto;
             padding: 16px 10px; font-size: 13px; background: #fafafa; border-right: 1px solid #ddd; box-sizing: border-box; }
nav.ss-toc ul { padding-left: 0; list-style: none; } nav.ss-toc li { margin: 3px 0; } nav.ss-toc a { text-decoration: none; }
@media screen { body.ss-with-toc { margin-left: 220px; } }
@page { size: A4; margin: 11mm 10mm; }  /* left/right = PRINT_MARGIN_MM */
@page wide { size: A4 landscape; margin: 10mm; }
@media print {
  body { font-size: 10.5pt; margin-left: 2mm; margin-right: 2mm; }  /* = PRINT_GUTTER_MM, see content_overflow */
  nav.ss-toc { display: none; }
  main, .jp-Notebook { max-width: none; padding: 0 !important; }
  .jp-Cell, .jp-OutputArea-output { padding: 0 !important; margin: 0 !important; overflow: visible !important; }
  /* flex rows print as one unbreakable block in Chromium: plain blocks let long text flow across pages */
  .jp-Cell, .jp-Cell-inputWrapper, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child,
  .jp-InputArea, .jp-OutputArea-output { display: block !important; }
  .jp-OutputArea-child { break-inside: auto !important; }  /* the lab template keeps each output on one page */
  /* nothing clips inside the page: what is too wide reaches the page's edge, where the checks see it
     (the lab template's .jp-OutputArea-child { overflow: hidden } cut it unseen, 2 mm inside) */
  .jp-OutputArea, .jp-OutputArea-child, .jp-Notebook, .jp-MarkdownOutput { overflow: visible !important; }
  .jp-InputPrompt, .jp-OutputPrompt, .jp-Collapser { display: none !important; }
  .jp-OutputArea-output img { break-inside: avoid; max-width: 100% !important; }
  .ss-table-wrap { overflow: visible; }
  .ss-table-wrap.wide { page: wide; }
  table.ss-table { font-size: 7.5pt; }
  h1, h2, h3 { break-after: avoid; }
  h1 { font-size: 18pt; margin: 0 0 4pt 0; } h2 { font-size: 14pt; } h3 { font-size: 11.5pt; }
  .ss-pagebreak { break-before: page; }
}
</style>
"""
_H2 = re.compile(r'<h2 id="([^"]+)">(.*?)</h2>', re.S)


class ReportError(RuntimeError):
    """The notebook or the rendering cannot give an honest report; the message says why."""


class ChromiumNotFound(ReportError):
    pass


# ---- notebook checks and the PDF preprocessor ----

def _html_of(out) -> str:
    html = out.get("data", {}).get("text/html", "")
    return "".join(html) if isinstance(html, list) else html


def is_plotly_output(out) -> bool:
    """True for a plotly figure (any renderer) or the embedded plotly.js bundle output."""
    if PLOTLY_MIME in out.get("data", {}):
        return True
    html = _html_of(out)
    return "Plotly.newPlot" in html or bool(_PLOTLYJS.search(html[:2000]))


class DropInteractivePreprocessor(Preprocessor):
    """Drop plotly outputs, and all outputs of cells tagged ``interactive`` (the PDF variant)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            if INTERACTIVE_TAG in cell.metadata.get("tags", []):
                cell.outputs = []
            else:
                cell.outputs = [o for o in cell.outputs if not is_plotly_output(o)]
        return cell, resources


def check_notebook(nb, path="notebook") -> None:
    """Refuse notebooks whose report would hide a failure.

    Raises :class:`ReportError` for error outputs (tracebacks) and for plotly figures rendered
    only as the plotly mimetype, which nbconvert drops without a word.
    """
    problems = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: error output {out.get('ename')}: {out.get('evalue')}")
            data = out.get("data", {})
            if PLOTLY_MIME in data and "text/html" not in data:
                problems.append(f"cell {i}: plotly figure has only the {PLOTLY_MIME} output, which the HTML "
                                "would drop; call songspace.plots.setup_notebook() in the first cell")
    if problems:
        raise ReportError(f"{path}: " + "; ".join(problems))


def assert_self_contained(html: str | os.PathLike, require_plotly: bool = True) -> None:
    """Check that the report's figures work offline.

    Parameters
    ----------
    html : str or path
        HTML text, or a path to an HTML file.
    require_plotly : bool
        Also require at least one plotly figure (the report has some).

    Raises
    ------
    AssertionError
        when plotly figures are present but plotly.js is not embedded, when a plotly.js script is
        loaded from a CDN, or (``require_plotly``) when there is no plotly figure at all.
    """
    if isinstance(html, os.PathLike) or "<" not in html:  # a path, not HTML text
        html = Path(html).read_text(encoding="utf-8")
    n_figs = html.count("Plotly.newPlot(")
    embedded = bool(_PLOTLYJS.search(html))
    cdn = _CDN_PLOTLY.search(html)
    if cdn:
        raise AssertionError(f"HTML loads plotly.js from the network ({cdn.group(0)[:120]}...): blank offline")
    if require_plotly and n_figs == 0:
        raise AssertionError("HTML has no plotly figure (no 'Plotly.newPlot'): were they dropped by nbconvert? "
                             "call songspace.plots.setup_notebook() before plotting")
    if n_figs and not embedded:
        raise AssertionError(f"HTML has {n_figs} plotly figure(s) but no embedded plotly.js: they render blank")


# ---- HTML ----

def _toc(body: str) -> str:
    """A table of contents linking every ``<h2 id=...>`` of the exported body."""
    items = []
    for anchor, title in _H2.findall(body):
        text = re.sub(r"<[^>]+>", "", title).replace("¶", "").strip()
        items.append(f'<li><a href="#{anchor}">{text}</a></li>')
    return f'<nav class="ss-toc"><b>Contents</b><ul>{"".join(items)}</ul></nav>' if items else ""


def layout(body: str, variant: str) -> str:
    """Add the report's CSS (both variants) and, in the HTML, the table of contents."""
    body = body.replace("</head>", REPORT_CSS + "</head>", 1)
    if variant == "html" and (toc := _toc(body)):
        body = re.sub(r"<body([^>]*)>", lambda m: f'<body{m.group(1)}>{toc}', body, count=1)
        body = re.sub(r'<body class="', '<body class="ss-with-toc ', body, count=1) if '<body class="' in body \
            else body.replace("<body", '<body class="ss-with-toc"', 1)
    return body


def render_html(executed_ipynb: str | os.PathLike, out_html: str | os.PathLike, hide_code: bool = True,
                variant: str = "html") -> Path:
    """Export an executed notebook to one HTML file (code hidden by default), atomically.

    Parameters
    ----------
    executed_ipynb : path
        Notebook executed by papermill/nbclient, plotting after ``plots.setup_notebook()``.
    out_html : path
        Output file.
    hide_code : bool
        Leave code inputs and prompts out (``exclude_input=True``).
    variant : {"html", "pdf"}
        ``"html"``: interactive figures kept, checked with :func:`assert_self_contained`;
        ``"pdf"``: interactive outputs dropped (see the module docstring for the cell tags).

    Returns
    -------
    Path of the written HTML.
    """
    if variant not in ("html", "pdf"):
        raise ValueError(f"variant must be 'html' or 'pdf', got {variant!r}")
    executed_ipynb = Path(executed_ipynb)
    if not executed_ipynb.is_file():
        raise FileNotFoundError(f"{executed_ipynb}: executed notebook not found")
    nb = nbformat.read(executed_ipynb, as_version=4)
    check_notebook(nb, executed_ipynb)
    nb = copy.deepcopy(nb)

    exporter = HTMLExporter(template_name="lab", exclude_input=hide_code, exclude_input_prompt=hide_code,
                            exclude_output_prompt=hide_code)
    remove = {REMOVE_TAG, PDF_ONLY_TAG} if variant == "html" else {REMOVE_TAG}
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags=remove, enabled=True), enabled=True)
    if variant == "pdf":
        exporter.register_preprocessor(DropInteractivePreprocessor(enabled=True), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": executed_ipynb.stem}})
    body = layout(body, variant)

    if variant == "html":
        assert_self_contained(body, require_plotly=False)
        kept = [c for c in nb.cells if not remove & set(c.metadata.get("tags", []))]
        if "Plotly.newPlot(" not in body and any("Plotly.newPlot" in _html_of(o)
                                                 for c in kept for o in c.get("outputs", [])):
            raise ReportError(f"{executed_ipynb}: plotly figures were lost in the HTML export")
    elif "Plotly.newPlot(" in body:
        raise ReportError(f"{executed_ipynb}: a plotly figure survived in the PDF variant")
    return atomic_write_text(out_html, body)


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
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                if attempt == 2:
                    raise ReportError(f"chromium did not finish within {timeout:.0f} s (twice) writing {out}") from None
                log.warning("chromium timed out after %.0f s writing %s; retrying once", timeout, out)
    if r.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        raise ReportError(f"chromium failed to write {out} (exit {r.returncode}):\n{r.stderr[-2000:]}")


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


# ---- CLI ----

def build_report(executed: str | os.PathLike, out_dir: str | os.PathLike, pdf: bool = True,
                 pdf_optional: bool = False) -> dict[str, Path | None]:
    """``out_dir/report.html`` (interactive) and ``out_dir/report.pdf`` (static variant).

    The HTML is always written first. Without Chromium, raises :class:`ChromiumNotFound`
    unless ``pdf_optional`` (then a warning is logged and ``pdf`` is None).
    """
    out_dir = Path(out_dir)
    html = render_html(executed, out_dir / RESULT_FILES["report_html"], variant="html")
    result = {"html": html, "pdf": None}
    if not pdf:
        return result
    try:
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".report-print-") as tmp:
            printable = render_html(executed, Path(tmp) / "report_print.html", variant="pdf")
            result["pdf"] = html_to_pdf(printable, out_dir / RESULT_FILES["report_pdf"])
    except ChromiumNotFound as e:
        if not pdf_optional:
            raise
        log.warning("PDF skipped: %s", e)
    return result


def add_arguments(ap) -> None:
    """The options of ``songspace report`` (and ``python -m songspace.report``)."""
    ap.add_argument("--executed", required=True, help="executed notebook, e.g. results/notebooks/06_report.ipynb")
    ap.add_argument("--out-dir", required=True, help="folder for report.html and report.pdf")
    ap.add_argument("--no-pdf", action="store_true", help="write the HTML only")
    ap.add_argument("--pdf-optional", action="store_true",
                    help="without chromium, warn and exit 0 instead of failing")


def run(a) -> dict[str, Path | None]:
    """Build the report the parsed options ``a`` describe (see :func:`build_report`)."""
    return build_report(a.executed, a.out_dir, pdf=not a.no_pdf, pdf_optional=a.pdf_optional)


def main(argv=None) -> int:
    """``python -m songspace.report ...``: the same as ``songspace report ...`` (exit 2 on a user error)."""
    from songspace import cli

    return cli.main(["report", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
