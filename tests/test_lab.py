"""A notebook executed after plots.setup_notebook() shows its plotly figures in JupyterLab (the plotly
mimetype) and in the exported HTML (text/html with plotly.js embedded, no CDN)."""
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from songspace.report import render

PLOTLY_MIME = "application/vnd.plotly.v1+json"
LIB = str(Path(__file__).resolve().parents[1] / "lib")


@pytest.fixture(scope="module")
def executed():
    from nbclient import NotebookClient

    nb = new_notebook(cells=[
        new_code_cell("import songspace, logging\nfrom songspace.report import plots\nplots.setup_notebook()\n"
                      "print(songspace.__file__)"),
        new_code_cell("import plotly.express as px\n"
                      "fig = px.scatter(x=[0, 1, 2], y=[2, 0, 1], title='tiny')\nfig.show()"),
        new_code_cell("logging.getLogger('songspace.test').info('HELLO_FROM_THE_LIBRARY')"),
    ])
    # the kernel imports this checkout's songspace, not whichever one the venv has installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [LIB, os.environ.get("PYTHONPATH")]))}
    NotebookClient(nb, kernel_name="python3", timeout=120).execute(env=env)
    return nb


def _outputs(nb):
    return [o for c in nb.cells for o in c.get("outputs", [])]


def test_kernel_used_this_checkout(executed):
    text = "".join(o.get("text", "") for o in executed.cells[0].outputs)
    assert text.strip().startswith(LIB), text


def test_figure_has_plotly_mimetype_for_lab_and_html_for_nbconvert(executed):
    figs = [o for o in executed.cells[1].outputs if PLOTLY_MIME in o.get("data", {})]
    assert len(figs) == 1, [list(o.get("data", {})) for o in executed.cells[1].outputs]
    data = figs[0]["data"]
    assert data[PLOTLY_MIME]["data"][0]["type"] == "scatter"
    html = data.get("text/html", "")
    assert "Plotly.newPlot" in html
    assert not render._CDN_PLOTLY.search(html), "the figure loads plotly.js from the network"


def test_plotly_js_embedded_once_and_exported_html_works_offline(executed, tmp_path):
    bundles = [o for o in _outputs(executed) if render._PLOTLYJS.search(render._html_of(o)[:2000])]
    assert len(bundles) == 1, "plotly.js must be embedded in the notebook exactly once"
    render.check_notebook(executed)  # what make report refuses: mimetype-only figures, errors
    path = tmp_path / "lab.ipynb"
    nbformat.write(executed, path)
    html = render.render_html(path, tmp_path / "lab.html").read_text()
    assert html.count("Plotly.newPlot(") == 1
    render.assert_self_contained(html)  # plotly.js embedded, no <script src=...plotly...js> from a CDN
    assert not render._CDN_PLOTLY.search(html)


def test_library_log_messages_show_in_the_notebook(executed):
    text = "".join(o.get("text", "") for o in executed.cells[2].outputs)
    assert "HELLO_FROM_THE_LIBRARY" in text
