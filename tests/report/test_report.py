"""HTML report keeps figures and hides code; the PDF and a screenshot come from headless Chromium."""
import re
import shutil

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from songspace import cli
from songspace.report import printing, render

NO_CHROMIUM = ("chromium not installed (run scripts/install_chromium.sh); CI installs it, "
               "so this skip must not happen there")
needs_chromium = pytest.mark.skipif(printing.find_chromium() is None, reason=NO_CHROMIUM)

CELLS = [
    ("from songspace.report import plots\nimport numpy as np, pandas as pd\nplots.setup_notebook(seed=0)", []),
    ("# A tiny report\nText that interprets the numbers.", "md"),
    ("rng = np.random.default_rng(0)\ncoords = rng.normal(size=(20, 2))\n"
     "df = pd.DataFrame({'language': ['en', 'fr'] * 10, 'artist': ['x'] * 20})", []),
    ("plots.scatter_latent(coords, df, color='language')", ["interactive"]),
    ("plots.scatter_latent_static(coords, df, color='language')", []),
    ("print('STATIC_TWIN_ONLY_IN_PDF')", ["pdf-only"]),
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from nbclient import NotebookClient

    nb = new_notebook()
    for src, tags in CELLS:
        cell = new_markdown_cell(src) if tags == "md" else new_code_cell(src, metadata={"tags": tags})
        nb.cells.append(cell)
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    path = tmp_path_factory.mktemp("nb") / "tiny_report.ipynb"
    nbformat.write(nb, path)
    return path


def _cells(tmp_path, outputs):
    nb = new_notebook(cells=[new_code_cell("x", outputs=outputs)])
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    return path


def test_html_has_static_and_interactive_figures_and_no_code(executed, tmp_path):
    out = render.render_html(executed, tmp_path / "r.html")
    html = out.read_text()
    assert "data:image/png;base64" in html
    assert "Plotly.newPlot(" in html
    render.assert_self_contained(html)
    assert "A tiny report" in html
    visible = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)  # plotly.js and CSS say "Error" too
    assert "A tiny report" in visible and "jupyter.stderr" not in visible
    for needle in ("Traceback", "Error", "plots.scatter_latent", "setup_notebook", "STATIC_TWIN_ONLY_IN_PDF"):
        assert needle not in visible, needle


def test_pdf_variant_drops_interactive_keeps_static(executed, tmp_path):
    html = render.render_html(executed, tmp_path / "p.html", variant="pdf").read_text()
    assert "Plotly.newPlot(" not in html and "plotly.js v" not in html
    assert "data:image/png;base64" in html and "STATIC_TWIN_ONLY_IN_PDF" in html


def test_assert_self_contained_catches_missing_or_cdn_plotly():
    fig_div = "<div id='a'></div><script>Plotly.newPlot('a', [], {})</script>"
    with pytest.raises(AssertionError, match="no embedded plotly.js"):
        render.assert_self_contained("<html>" + fig_div + "</html>")
    with pytest.raises(AssertionError, match="network"):
        render.assert_self_contained('<script src="https://cdn.plot.ly/plotly-3.0.1.min.js"></script>' + fig_div)
    with pytest.raises(AssertionError, match="no plotly figure"):
        render.assert_self_contained("<html><p>nothing</p></html>")
    render.assert_self_contained("<html><p>nothing</p></html>", require_plotly=False)


def test_refuses_dropped_plotly_mimetype_and_error_outputs(tmp_path):
    mime_only = new_output("display_data", data={render.PLOTLY_MIME: {"data": []}, "text/plain": "Figure"})
    with pytest.raises(printing.ReportError, match="setup_notebook"):
        render.render_html(_cells(tmp_path, [mime_only]), tmp_path / "x.html")
    err = new_output("error", ename="ValueError", evalue="boom", traceback=[])
    with pytest.raises(printing.ReportError, match="bad.ipynb.*ValueError: boom"):
        render.render_html(_cells(tmp_path, [err]), tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


@needs_chromium
def test_html_to_pdf(executed, tmp_path):
    html = render.render_html(executed, tmp_path / "p.html", variant="pdf")
    pdf = printing.html_to_pdf(html, tmp_path / "r.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5000


@needs_chromium
def test_screenshot_of_report_is_not_blank(executed, tmp_path):
    from PIL import Image

    html = render.render_html(executed, tmp_path / "r.html")
    png = printing.screenshot(html, tmp_path / "r.png", width=900, height=1200)
    px = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert px.shape == (1200, 900)
    assert px.std() > 5
    assert (px < 250).mean() > 0.01  # some ink, not a white page


@needs_chromium
def test_cli_writes_html_and_pdf(executed, tmp_path):
    assert cli.main(["report", "--executed", str(executed), "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "report.pdf").read_bytes()[:4] == b"%PDF"
    render.assert_self_contained(tmp_path / "report.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.pdf"]


def test_cli_without_chromium_fails_clearly_unless_pdf_optional(executed, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(printing, "find_chromium", lambda: None)
    assert cli.main(["report", "--executed", str(executed), "--out-dir", str(tmp_path)]) == 2
    assert "install_chromium.sh" in capsys.readouterr().err
    assert (tmp_path / "report.html").exists() and not (tmp_path / "report.pdf").exists()
    assert cli.main(["report", "--executed", str(executed), "--out-dir", str(tmp_path), "--pdf-optional"]) == 0
    assert "report.pdf NOT written (chromium not installed" in capsys.readouterr().err
    assert cli.main(["report", "--executed", str(tmp_path / "missing.ipynb"), "--out-dir", str(tmp_path)]) == 2


@pytest.mark.parametrize("script, why", [("sleep 60", "did not finish within 1 s (twice)"),  # no exec: a wrapper
                                         ("echo 'GPU process crashed' >&2; exit 139", "chromium failed to write")])
def test_a_chromium_that_hangs_or_crashes_is_a_warning_with_pdf_optional(executed, tmp_path, monkeypatch, capsys,
                                                                         script, why):
    """report.html is the main product: the PDF's failure is one warning line, exit 0, and no PDF of an earlier
    run is left beside the new HTML (nor the temporary folders); without --pdf-optional it is an error."""
    import functools
    import time

    fake = tmp_path / "chromium"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SONGSPACE_CHROMIUM", str(fake))
    monkeypatch.setattr(render, "html_to_pdf", functools.partial(printing.html_to_pdf, timeout=1))
    out = tmp_path / "out"
    out.mkdir()
    for optional, rc in ((["--pdf-optional"], 0), ([], 2)):
        (out / "report.pdf").write_bytes(b"%PDF an earlier run's")
        start = time.monotonic()
        assert cli.main(["report", "--executed", str(executed), "--out-dir", str(out), *optional]) == rc
        assert time.monotonic() - start < 30  # a hung chromium is killed with whatever it started
        err = capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == ["report.html"], err
        said = [line for line in err.splitlines() if "report.pdf NOT written" in line]
        assert (len(said) == 1 and why in said[0]) if optional else (not said and why in err and "error:" in err), err


def test_layout_adds_css_to_both_and_a_toc_to_the_html_only():
    body = ('<html><head></head><body class="jp-Notebook">'
            '<h2 id="1-·-Data">1 · Data<a class="anchor-link" href="#1-·-Data">¶</a></h2><p>x</p>'
            '<h2 id="Appendix">Appendix</h2></body></html>')
    html = render.layout(body, "html")
    assert 'id="songspace-report"' in html and "@page wide" in html
    assert '<a href="#1-·-Data">1 · Data</a>' in html and '<a href="#Appendix">Appendix</a>' in html
    assert '<body class="ss-with-toc jp-Notebook">' in html
    pdf = render.layout(body, "pdf")
    assert 'id="songspace-report"' in pdf and "ss-toc" not in pdf.split("</style>")[-1]


def test_page_count_and_words_cut_at_edge_catch_a_table_wider_than_the_page(tmp_path):
    if printing.find_chromium() is None or shutil.which("pdftotext") is None:
        pytest.skip("needs chromium and poppler-utils (make chromium)")
    import pandas as pd
    from songspace.report import summary

    wide = pd.DataFrame({f"column number {i}": [f"value {i}.{j}" for j in range(3)] for i in range(24)})
    page = "<html><head>{css}</head><body>{table}</body></html>"
    cut = tmp_path / "cut.html"
    cut.write_text(page.format(css=render.REPORT_CSS, table=wide.to_html()), encoding="utf-8")
    fits = tmp_path / "fits.html"
    fits.write_text(page.format(css=render.REPORT_CSS, table="<p>portrait</p>" + summary.html_table(wide.iloc[:, :12], wide=True)),
                    encoding="utf-8")
    found = {}
    for h in (cut, fits):
        pdf = printing.html_to_pdf(h, h.with_suffix(".pdf"))
        found[h.stem] = printing.words_cut_at_edge(pdf), printing.page_count(pdf)
    assert found["cut"][0] and found["cut"][1] == 1, found  # the 24-column table runs off the page
    assert found["fits"] == ([], 2), found  # 12 columns on a landscape page of their own
    # the pixel check sees the cut table too, and nothing on the portrait and landscape pages that fit
    assert printing.content_overflow(cut.with_suffix(".pdf"), tmp_path / "cut_pages")
    assert printing.content_overflow(fits.with_suffix(".pdf"), tmp_path / "fits_pages") == []


def _png_base64(width_px: int, height_px: int) -> str:
    """A blue PNG with black bars every 100 px, inked up to its right edge, base64-encoded."""
    import base64
    import io

    from matplotlib.image import imsave

    px = np.full((height_px, width_px, 3), (0.3, 0.45, 0.8))
    px[:, ::100] = 0
    buf = io.BytesIO()
    imsave(buf, px, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def test_content_overflow_catches_a_figure_cut_at_the_right_edge(tmp_path):
    if printing.find_chromium() is None or shutil.which("pdftoppm") is None:
        pytest.skip("needs chromium and poppler-utils (make chromium)")
    from matplotlib.image import imread

    png, dpi = _png_base64(2400, 200), 100
    outputs = {  # printed through the report's own template and CSS, as build_report does
        # a figure: REPORT_CSS shrinks it to the page, so it fits, inked across the whole width
        "fits": new_output("display_data", data={"image/png": png}),
        # a block wider than the page (fixed width): its image does not shrink and Chromium clips it
        "cut": new_output("display_data", data={"text/html": f'<div style="width: 1400px">'
                                                             f'<img src="data:image/png;base64,{png}"></div>'}),
    }
    found = {}
    for name, out in outputs.items():
        nb = tmp_path / f"{name}.ipynb"
        nbformat.write(new_notebook(cells=[new_markdown_cell("# A figure"), new_code_cell("fig", outputs=[out])]), nb)
        pdf = printing.html_to_pdf(render.render_html(nb, tmp_path / f"{name}.html", variant="pdf"), tmp_path / f"{name}.pdf")
        found[name] = printing.content_overflow(pdf, tmp_path / f"{name}_pages", dpi=dpi), printing.words_cut_at_edge(pdf)
    assert found["fits"] == ([], []), found
    overflow, words = found["cut"]
    assert [page for page, _ in overflow] == [1] and words == [], found  # only the pixels show the cut
    # what reaches the edge is the image: as tall as the blue band crossing the middle of the page
    page = imread(tmp_path / "cut_pages" / "page-1.png")[..., :3].mean(axis=2) * 255
    band_mm = (page[:, page.shape[1] // 2] < 240).sum() / (dpi / 25.4)
    assert overflow[0][1] == pytest.approx(band_mm, abs=0.5), (overflow, band_mm)
