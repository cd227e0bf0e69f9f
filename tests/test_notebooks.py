"""Smoke test: every notebook executes headless with papermill on a tiny synthetic dataset, in order,
each reading only what the one before wrote; then the report renders."""
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["00_data", "01_features", "02_mlp_vae", "03_conv_vae", "04_sweeps", "05_clustering", "06_report"]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    import papermill as pm
    from songspace.data import synthetic

    base = tmp_path_factory.mktemp("smoke")
    data_root, results_root = base / "data", base / "results"
    synthetic.make_synthetic(data_root / "raw" / "smoke", n_per_cell=2, duration_s=4.0, sr=16000, seed=0)
    out = {}
    env_before = dict(os.environ)
    for name in ORDER:
        dest = results_root / "notebooks" / f"{name}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        pm.execute_notebook(
            str(ROOT / "notebooks" / f"{name}.ipynb"), str(dest), kernel_name="python3",
            cwd=str(ROOT / "notebooks"), progress_bar=False,
            parameters={"dataset": "smoke", "data_root": str(data_root), "results_root": str(results_root), "profile": "tiny"},
        )
        out[name] = dest
    assert dict(os.environ) == env_before
    return {"notebooks": out, "data_root": data_root, "results_root": results_root}


def _errors(nb_path):
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    bad = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                bad.append(o.get("ename"))
            if o.get("name") == "stderr" and "Traceback" in "".join(o.get("text", "")):
                bad.append("traceback on stderr")
    return bad


@pytest.mark.parametrize("name", ORDER)
def test_notebook_runs_clean(executed, name):
    assert executed["notebooks"][name].exists()
    assert not _errors(executed["notebooks"][name])


def test_pipeline_artifacts(executed):
    d, r = executed["data_root"], executed["results_root"]
    assert (d / "interim" / "smoke" / "tracks.parquet").exists()
    assert (d / "interim" / "smoke" / "validation.csv").exists()
    assert (d / "processed" / "smoke" / "windows.parquet").exists()
    assert (r / "metrics_summary.csv").exists()
    assert (r / "cluster_comparison.csv").exists()
    assert any((r / "runs").glob("*/done.json"))
    # every algorithm judges the models against every baseline of the main table (PCA and autoencoder included)
    main, comp = pd.read_csv(r / "representation_comparison.csv"), pd.read_csv(r / "cluster_comparison.csv")
    plain = set(main.loc[(main["family"] == "baseline") & (main["method"] == "kmeans"), "rep"])
    assert {"audio_pca", "ae"} <= plain and all(plain <= set(g["rep"]) for _, g in comp.groupby("method"))
    # the tables say which rows are a trained model's latents: the autoencoder's are, though scored as a baseline
    learned = main.groupby("rep")["learned"].first()
    assert learned["ae"] and learned["mlp_vae"] and not learned["audio_pca"] and not learned["audio_raw"]


def test_report_renders_every_figure_and_shows_in_chromium(executed, tmp_path):
    import numpy as np
    from PIL import Image
    from songspace.report import printing, render

    nb_path = executed["notebooks"]["06_report"]
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    n_png = sum("image/png" in o.get("data", {}) for o in outputs)
    n_plotly = sum(render.is_plotly_output(o) for o in outputs)
    assert n_png >= 5 and n_plotly >= 1, (n_png, n_plotly)

    paths = render.build_report(nb_path, tmp_path)  # report.html and report.pdf, as `make all` does
    html = tmp_path / "report.html"
    text = html.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64") >= n_png  # every static figure made it into the HTML
    assert "Traceback" not in text
    render.assert_self_contained(text)  # plotly.js embedded, no CDN: figures render offline
    assert (tmp_path / "report.pdf").read_bytes()[:4] == b"%PDF"

    png = printing.screenshot(html, tmp_path / "report.png", width=1200, height=2400)
    px = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert px.std() > 5 and (px < 250).mean() > 0.01  # a rendered page, not a blank one
    assert 'class="ss-toc"' in text and text.count("<li><a href=") >= 8  # table of contents


def _share_of_colour(png, rgb, tol=8):
    import numpy as np
    from PIL import Image

    px = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    return float((np.abs(px - np.array(rgb)).max(axis=2) <= tol).mean())


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm missing: apt-get install poppler-utils (make chromium)")
def test_pdf_page_one_holds_the_summary_figure_and_nothing_is_cut(executed, tmp_path):
    from matplotlib.colors import to_rgb
    from songspace.report import plots, printing, render

    paths = render.build_report(executed["notebooks"]["06_report"], tmp_path)
    pdf = paths["pdf"]
    printing.screenshot(paths["html"], tmp_path / "report_html.png")  # artefact: the top of the HTML, to look at
    n = printing.page_count(pdf)
    assert 3 <= n <= 12, n
    pages = printing.pdf_pages(pdf, tmp_path / "pages", dpi=40)
    assert len(pages) == n
    band = [round(255 * c) for c in to_rgb(plots.CHANCE_BAND)]
    shares = [_share_of_colour(p, band) for p in pages]
    # the chance band of the summary figure is on page 1; elsewhere that colour is at most a few stray pixels
    assert shares[0] > 0.003 and shares[0] > 20 * max(shares[1:]), shares
    assert printing.words_cut_at_edge(pdf) == []  # no table or text runs off the page
    # no figure or block either (pixels: Chromium clips them silently); keeps the 100 dpi pages as artefacts
    assert printing.content_overflow(pdf, tmp_path / "pages_100dpi") == []
