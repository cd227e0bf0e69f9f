"""Executed notebook -> self-contained HTML (code hidden); ``printing`` turns it into a PDF.

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
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

from songspace.cache import atomic_write_text
from songspace.config import RESULT_FILES
from songspace.report.printing import ReportError, html_to_pdf

log = logging.getLogger(__name__)

PLOTLY_MIME = "application/vnd.plotly.v1+json"
INTERACTIVE_TAG, PDF_ONLY_TAG, REMOVE_TAG = "interactive", "pdf-only", "remove"
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
                                "would drop; call songspace.report.plots.setup_notebook() in the first cell")
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
                             "call songspace.report.plots.setup_notebook() before plotting")
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


# ---- CLI ----

def build_report(executed: str | os.PathLike, out_dir: str | os.PathLike, pdf: bool = True,
                 pdf_optional: bool = False) -> dict[str, Path | None]:
    """``out_dir/report.html`` (interactive) and ``out_dir/report.pdf`` (static variant).

    The HTML is always written first. When Chromium is missing, times out or fails, a report.pdf of an
    earlier run is removed (it would pass for this run's) and :class:`ReportError` (:class:`ChromiumNotFound`
    when missing) is raised, unless ``pdf_optional``: then one warning says the PDF was not written and why,
    and ``pdf`` is None.
    """
    out_dir = Path(out_dir)
    html = render_html(executed, out_dir / RESULT_FILES["report_html"], variant="html")
    result = {"html": html, "pdf": None}
    if not pdf:
        return result
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".report-print-") as tmp:
        printable = render_html(executed, Path(tmp) / "report_print.html", variant="pdf")
        result["pdf"] = _print(printable, out_dir / RESULT_FILES["report_pdf"], pdf_optional)
    return result


def _print(printable: Path, pdf: Path, optional: bool) -> Path | None:
    """:func:`printing.html_to_pdf`; on a Chromium failure the old ``pdf`` goes, then the error is raised,
    or (``optional``) logged in one line and None returned."""
    try:
        return html_to_pdf(printable, pdf)
    except ReportError as e:
        pdf.unlink(missing_ok=True)
        if not optional:
            raise
        why = str(e).splitlines()[0]  # chromium's stderr follows: the line says what happened
        log.warning("%s NOT written (%s); %s is complete", pdf.name, why, RESULT_FILES["report_html"])
        return None


def add_arguments(ap) -> None:
    """The options of ``songspace report``."""
    ap.add_argument("--executed", required=True, help="executed notebook, e.g. results/notebooks/06_report.ipynb")
    ap.add_argument("--out-dir", required=True, help="folder for report.html and report.pdf")
    ap.add_argument("--no-pdf", action="store_true", help="write the HTML only")
    ap.add_argument("--pdf-optional", action="store_true",
                    help="when chromium is missing or fails, warn that report.pdf was not written and exit 0")


def run(a) -> dict[str, Path | None]:
    """Build the report the parsed options ``a`` describe (see :func:`build_report`)."""
    return build_report(a.executed, a.out_dir, pdf=not a.no_pdf, pdf_optional=a.pdf_optional)
