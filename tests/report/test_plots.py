"""Each figure builds on tiny arrays; embed_2d caches and says when it falls back."""
import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from matplotlib.figure import Figure
from songspace.report import plots, projection


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def tracks(rng):
    n = 12
    return pd.DataFrame({
        "artist": [f"a{i % 3}" for i in range(n)], "title": [f"t{i}" for i in range(n)],
        "language": ["en", "fr", "de", "es"] * 3, "genre": ["pop", None, "rock"] * 4,
        "cluster": [0, 1, -1] * 4,
    })


def test_scatter_latent_interactive_has_hover_and_one_trace_per_category(rng, tracks):
    fig = plots.scatter_latent(rng.normal(size=(12, 2)), tracks, color="language")
    assert isinstance(fig, go.Figure)
    assert sorted(t.name for t in fig.data) == ["de", "en", "es", "fr"]
    assert sum(len(t.x) for t in fig.data) == 12
    hover = fig.data[0].hovertemplate
    for col in ("artist", "title", "genre", "cluster"):
        assert col in hover


def test_scatter_latent_rejects_misaligned_or_unknown_column(rng, tracks):
    with pytest.raises(ValueError, match="rows"):
        plots.scatter_latent(rng.normal(size=(11, 2)), tracks)
    with pytest.raises(KeyError, match="nope"):
        plots.scatter_latent(rng.normal(size=(12, 2)), tracks, color="nope")


def test_scatter_latent_static_saves_png(rng, tracks, tmp_path):
    fig = plots.scatter_latent_static(rng.normal(size=(12, 2)), tracks, color="genre", path=tmp_path / "s.png")
    assert isinstance(fig, Figure)
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "NA" in labels  # missing genre shown, not dropped


def test_metric_across_runs_side_by_side_with_error_bars():
    df = pd.DataFrame({"run_name": ["vae", "ae", "pca"], "silhouette_mean": [0.2, 0.1, 0.05],
                       "silhouette_std": [0.02, 0.01, np.nan], "ami_mean": [0.3, 0.2, 0.1],
                       "ami_std": [0.05, 0.04, 0.0], "n_seeds": [3, 3, 1]})
    fig = plots.metric_across_runs(df)
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["vae", "ae", "pca"]
    assert "silhouette" in fig.axes[0].get_xlabel() and "ami" in fig.axes[1].get_xlabel()
    with pytest.raises(KeyError, match="nmi_mean"):
        plots.metric_across_runs(df, metric="nmi")


def test_reconstructions(rng, tmp_path):
    x = rng.normal(size=(5, 16, 24)).astype(np.float32)
    fig = plots.reconstructions_spectrogram(x, x + 0.1, n=3, path=tmp_path / "r.png")
    assert len([a for a in fig.axes if a.images]) == 6
    assert (tmp_path / "r.png").exists()
    v = rng.normal(size=(4, 10))
    assert len(plots.reconstructions_vector(v, v * 0.9, n=2).axes) == 2
    with pytest.raises(ValueError, match="shape"):
        plots.reconstructions_spectrogram(x, x[:, :8])


def test_composition_table_counts_and_shares():
    clusters = np.array([0, 0, 1, 1, 1, -1])
    langs = np.array(["en", "fr", "en", "en", "de", "fr"], dtype=object)
    counts = plots.composition_table(clusters, langs)
    assert list(counts.index) == ["0", "1", "noise"]
    assert counts.loc["1", "en"] == 2 and counts.to_numpy().sum() == 6
    shares = plots.composition_table(clusters, langs, normalize=True)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    fig = plots.composition_heatmap(clusters, langs, normalize=True, label_name="language")
    assert fig.axes[0].get_xlabel() == "language"


def test_training_curves_skips_missing_columns():
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.2, 1.9],
                      "train_kl": [0.1, 0.5, 0.7]})
    fig = plots.training_curves(h)
    assert len(fig.axes) == 2  # loss and KL; no recon / active units columns
    with pytest.raises(ValueError, match="known columns"):
        plots.training_curves(pd.DataFrame({"epoch": [1]}))


def test_latent_traversal_moves_only_the_chosen_dim(rng):
    n_mels, frames = 8, 6
    W = rng.normal(size=(4, n_mels * frames)).astype(np.float32)
    seen = []

    def decode(Z):
        seen.append(Z.copy())
        return (Z @ W).reshape(len(Z), n_mels, frames)

    mu = rng.normal(size=(50, 4)) * np.array([2.0, 0.001, 1.0, 0.5])
    dims, var = plots.most_active_dims(mu, k=2)
    assert list(dims) == [0, 2] and var.shape == (4,)
    params = {"sr": 16000, "hop_length": 512, "fmin": 0.0, "fmax": None}
    fig = plots.latent_traversal(decode, np.zeros(4), dims, params, values=[-1, 0, 1])
    panels = fig.axes[:6]  # row by row; the colour bar comes last
    assert [a.get_title() for a in panels[:3]] == ["z[0] = -1.0", "z[0] = +0.0", "z[0] = +1.0"]
    Z = seen[0]
    assert Z.shape == (6, 4)
    np.testing.assert_array_equal(Z[:3, 0], [-1, 0, 1])
    assert np.all(Z[:3, 1:] == 0)
    # each panel draws the decoding of its own latent point: row 1, column 2 is z[2] = +1
    z = np.zeros((1, 4), dtype=np.float32)
    z[0, 2] = 1
    drawn = np.asarray(panels[5].collections[0].get_array()).reshape(n_mels, frames)
    np.testing.assert_allclose(drawn, decode(z)[0], rtol=1e-6)
    # axes in seconds and Hz, not frames and mel bins
    assert panels[3].get_xlabel() == "time (s)" and panels[0].get_ylabel() == "frequency (Hz)"
    assert np.isclose(np.ptp(panels[3].get_xlim()), frames * 512 / 16000)  # 6 frames of 512 samples at 16 kHz
    assert 7000 < panels[0].get_ylim()[1] < 9500  # up to about sr / 2 Hz (not 8 mel bins)
    with pytest.raises(ValueError, match="outside"):
        plots.latent_traversal(decode, np.zeros(4), [7], params)


def test_setup_notebook_leaves_plotlys_renderers_unloaded_until_a_figure_needs_them():
    code = ("import sys; from songspace.report import plots; plots.setup_notebook(); "
            "loaded = 'plotly.io._renderers' in sys.modules; import plotly.io as pio; "
            "print(loaded, pio.renderers.default)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "plotly_mimetype+notebook"]


def test_setup_notebook_sets_offline_plotly_renderer_and_seed():
    import plotly.io as pio

    plots.setup_notebook(seed=3)
    assert pio.renderers.default == "plotly_mimetype+notebook"
    a = np.random.rand()
    plots.setup_notebook(seed=3)
    assert np.random.rand() == a


def test_embed_2d_cache_hit_does_not_recompute(rng, tmp_path, monkeypatch):
    calls = []
    real = projection._compute
    monkeypatch.setattr(projection, "_compute", lambda *a: calls.append(a[1]) or real(*a))
    X = rng.normal(size=(40, 6)).astype(np.float32)
    c1, i1 = projection.embed_2d(X, "tsne", seed=0, cache_path=tmp_path)
    c2, i2 = projection.embed_2d(X, "tsne", seed=0, cache_path=tmp_path)
    assert calls == ["tsne"]
    assert (i1["cache_hit"], i2["cache_hit"]) == (False, True)
    np.testing.assert_array_equal(c1, c2)
    assert c1.shape == (40, 2) and i1["method_used"] == "tsne"
    assert i1["params"]["perplexity"] == 13.0  # capped at (n - 1) / 3
    projection.embed_2d(X + 1e-3, "tsne", seed=0, cache_path=tmp_path)  # other content: recomputed
    projection.embed_2d(X, "tsne", seed=1, cache_path=tmp_path)  # other seed: recomputed
    assert calls == ["tsne"] * 3


def test_embed_2d_tiny_input_falls_back_to_pca_and_says_so(rng):
    coords, info = projection.embed_2d(rng.normal(size=(4, 3)), "umap")
    assert coords.shape == (4, 2)
    assert info["method"] == "umap" and info["method_used"] == "pca" and "n=4" in info["reason"]


def test_embed_2d_rejects_bad_input():
    with pytest.raises(ValueError, match="non-finite"):
        projection.embed_2d(np.array([[0.0, np.nan]] * 6), "pca")
    with pytest.raises(ValueError, match="unknown method"):
        projection.embed_2d(np.zeros((6, 2)), "mds")


@pytest.mark.slow
def test_embed_2d_umap_runs_and_separates_two_blobs(rng):
    X = np.concatenate([rng.normal(size=(30, 5)), rng.normal(size=(30, 5)) + 8]).astype(np.float32)
    coords, info = projection.embed_2d(X, "umap", seed=0)
    assert info["method_used"] == "umap" and coords.shape == (60, 2)
    a, b = coords[:30].mean(0), coords[30:].mean(0)
    spread = max(coords[:30].std(0).max(), coords[30:].std(0).max())
    assert np.linalg.norm(a - b) > 3 * spread


def _scored(rng):
    rows = []
    for col in ("genre", "language"):
        for rep, fam, method in [("mlp_vae", "model", "kmeans"), ("vade[own]", "model", "own"),
                                 ("audio_raw", "baseline", "kmeans"), ("lyrics_only", "baseline", "kmeans")]:
            rows.append({"label_column": col, "rep": rep, "family": fam, "method": method,
                         "ami_mean": rng.uniform(0.1, 0.6), "ami_std": 0.02, "ami_chance_p95_mean": 0.07})
    return pd.DataFrame(rows)


def test_ami_summary_one_panel_per_label_band_at_p95_and_families_distinct(rng):
    from matplotlib.colors import to_hex

    df = _scored(rng)
    fig = plots.ami_summary(df)
    axes = [a for a in fig.axes if a.get_title().startswith("against")]
    assert [a.get_title() for a in axes] == ["against genre", "against language"]
    band = [p for p in axes[0].patches if to_hex(p.get_facecolor()) == plots.CHANCE_BAND]
    assert len(band) == 1 and np.isclose(band[0].get_x() + band[0].get_width(), 0.07)
    # rows sorted by mean AMI over labels, best first
    order = df.groupby("rep")["ami_mean"].mean().sort_values(ascending=False).index.tolist()
    assert [t.get_text() for t in axes[0].get_yticklabels()] == order
    markers = {line.get_marker() for line in axes[0].lines if line.get_marker() not in (None, "None", "")}
    assert {"o", "s", "D"} <= markers
    with pytest.raises(KeyError, match="ami_chance_p95_mean"):
        plots.ami_summary(df.drop(columns="ami_chance_p95_mean"))


def test_internal_summary_names_k_when_a_rep_has_several_rows():
    rows = pd.DataFrame({"rep": ["ae", "ae", "mlp_vae"], "family": ["baseline", "baseline", "model"], "k": [3, 5, 3],
                         "silhouette_mean": [0.8, 0.5, 0.6], "silhouette_std": [np.nan, np.nan, 0.1]})
    fig = plots.internal_summary(rows, pd.Series([4, 5, 3]), sizes_of="hybrid_raw")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["ae (k=3)", "mlp_vae (k=3)", "ae (k=5)"]
    assert fig.axes[1].get_title() == "cluster sizes hybrid_raw"


def _maps(rng, n=12, k=3):
    ids = [str(i) for i in range(n)]
    return {f"rep{j} (umap)": pd.DataFrame({"track_id": ids[j:], "x": rng.normal(size=n - j), "y": rng.normal(size=n - j),
                                            "cluster": rng.integers(0, 3, n - j)}) for j in range(k)}


def test_latent_map_grid_keeps_legends_off_the_points(rng, tracks):
    meta = tracks.set_index(pd.Index([str(i) for i in range(12)]))
    fig = plots.latent_map_grid(_maps(rng, k=4), meta, color="language")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    used = [a for a in fig.axes if a.get_title()]
    assert len(used) == 4 and sum(not a.axison for a in fig.axes) == 2  # 2 x 3 grid, two empty panels off
    for ax in used:
        leg, box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
        assert leg.x0 >= box.x1 - 1  # legend beside the panel, never over its points


def test_latent_map_grid_gives_a_class_one_colour_in_every_panel(rng):
    """A panel without one of the classes must not shift the colours of the others."""
    meta = pd.DataFrame({"genre": ["rock", "jazz", "pop", "folk"] * 3}, index=[str(i) for i in range(12)])
    maps = {"all": pd.DataFrame({"track_id": [str(i) for i in range(12)], "x": rng.normal(size=12),
                                 "y": rng.normal(size=12), "cluster": 0}),
            "no folk": pd.DataFrame({"track_id": [str(i) for i in range(12) if i % 4 != 3], "x": rng.normal(size=9),
                                     "y": rng.normal(size=9), "cluster": 0})}
    fig = plots.latent_map_grid(maps, meta, color="genre")
    colours = [{t.get_text(): tuple(np.round(h.get_facecolor()[:3] if hasattr(h, "get_facecolor") else h.get_color()[:3], 3))
                for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
               for ax in fig.axes if ax.get_title()]
    assert set(colours[1]) == {"jazz", "pop", "rock"}
    assert all(colours[0][k] == v for k, v in colours[1].items())


def test_latent_explorer_dropdowns_switch_maps_and_colourings(rng, tracks):
    meta = tracks.set_index(pd.Index([str(i) for i in range(12)]))
    maps = _maps(rng)
    with pytest.raises(KeyError, match="nope"):
        plots.latent_explorer(maps, meta, colors=["nope"])
    fig = plots.latent_explorer(maps, meta, colors=["cluster", "language"])
    map_menu, colour_menu = fig.layout.updatemenus
    assert [b.label for b in map_menu.buttons] == [f"map: {m}" for m in maps]
    assert [b.label for b in colour_menu.buttons] == ["colour: cluster", "colour: language"]
    shown = colour_menu.buttons[1].args[0]["visible"]
    assert sorted(t.name for t, v in zip(fig.data, shown) if v) == ["de", "en", "es", "fr"]
    # every song in every colouring; songs absent from a map (rep1 lacks song 0) sit at NaN
    xs = map_menu.buttons[1].args[0]["x"]
    assert sum(len(x) for x in xs) == 12 * 2 and sum(np.isnan(x).sum() for x in xs) == 2
    hover = fig.data[0].customdata[0][0]
    assert hover == "a2 – t11<br>cluster: -1, language: es"  # artist – title, then the colourings


def test_reconstructions_specshow_axes_in_seconds_and_hz(rng):
    x = rng.normal(size=(3, 16, 32))
    params = {"sr": 16000, "hop_length": 512, "fmin": 0.0, "fmax": None}
    fig = plots.reconstructions_specshow(x, x * 0.5, params, n=2)
    ax = fig.axes[2]  # bottom-left: original #0 is axes[0], reconstructions row starts at 2
    assert ax.get_xlabel() == "time (s)" and fig.axes[0].get_ylabel() == "frequency (Hz)"
    assert np.isclose(ax.get_xlim()[1], 32 * 512 / 16000, rtol=0.05)  # 32 frames of 512 samples at 16 kHz
    assert 7000 < fig.axes[0].get_ylim()[1] < 9500  # in Hz, up to about sr / 2 (not 16 mel bins)


def test_composition_heatmaps_one_panel_per_label_rows_are_shares():
    clusters = np.array([0, 0, 1, 1, 1, 2])
    fig = plots.composition_heatmaps(clusters, {"genre": np.array(list("aabbbc")), "language": np.array(list("xyxyxy"))})
    assert [a.get_xlabel() for a in fig.axes] == ["genre", "language"]
    shares = [float(t.get_text()) for t in fig.axes[1].texts]
    assert np.allclose(np.reshape(shares, (3, 2)).sum(1), 1)  # each cluster's shares sum to 1
    with pytest.raises(ValueError, match="no label"):
        plots.composition_heatmaps(clusters, {})


def test_composition_heatmaps_wrap_into_rows_a_page_can_hold():
    """Five labels of 10 classes side by side were one 29-in row, shrunk past reading on the page."""
    from songspace.report.plots import scores

    rng = np.random.default_rng(0)
    clusters = rng.integers(0, 4, 200)
    labels = {f"label{i}": rng.integers(0, 10, 200).astype(str) for i in range(5)}
    fig = plots.composition_heatmaps(clusters, labels)
    assert [a.get_xlabel() for a in fig.axes] == list(labels)
    assert fig.get_size_inches()[0] <= scores.MAX_ROW_COLUMNS * scores.UNIT
    fig.canvas.draw()  # the layout places the panels
    boxes = [a.get_window_extent() for a in fig.axes]  # in pixels: the panels sit in one subfigure per row
    tops = [round(b.y1) for b in boxes]
    assert tops[0] == tops[1] > tops[2] == tops[3] > tops[4]  # two panels a row, then the fifth
    widths = [b.width for b in boxes]
    assert max(widths) / min(widths) < 1.3  # a shorter row keeps the panels' width


def test_explorer_points_carry_name_cluster_and_their_audio_file(rng, tracks, tmp_path):
    """Hover: the song's name and its cluster; click: the script plays the point's file (relative to the
    report's folder when opened from disk), or says it cannot be reached."""
    ids = [str(i) for i in range(12)]
    song = tmp_path / "music" / "rock" / "a b.mp3"
    song.parent.mkdir(parents=True)
    song.write_bytes(b"")
    t = tracks.assign(track_id=ids, audio_path=[str(song)] + [None] * 11, name=[f"N{i}" for i in range(12)])
    audio = plots.audio_sources(t, tmp_path / "results")
    assert audio.loc["0", "rel"] == "../music/rock/a%20b.mp3" and audio.loc["1", "path"] == ""
    fig = plots.latent_explorer(_maps(rng), t.set_index("track_id"), colors=["cluster"], audio=audio)
    assert fig.layout.meta == plots.EXPLORER_META and "click it to play" in fig.layout.title.text
    points = {row[0]: (row[1], row[2]) for trace in fig.data for row in trace.customdata}
    assert points["N0<br>cluster: 0"] == ("../music/rock/a%20b.mp3", song.resolve().as_posix())
    assert points["N1<br>cluster: 1"] == ("", "")
    t = t.astype({"cluster": object})
    t.loc[2, "name"], t.loc[2, "cluster"] = "<img src=x onerror=alert(1)> & <b>B</b>", "<i>c</i>"
    fig = plots.latent_explorer(_maps(rng), t.set_index("track_id"), colors=["cluster"], audio=audio)
    row = next(r for trace in fig.data for r in trace.customdata if r[3].startswith("<img"))
    # plotly draws <b>, <br> and <a> of a hover text as markup: the name and label as text, the name plain for the player
    assert row[0] == "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;B&lt;/b&gt;<br>cluster: &lt;i&gt;c&lt;/i&gt;"
    assert row[3] == "<img src=x onerror=alert(1)> & <b>B</b>" and "&lt;i&gt;c&lt;/i&gt;" in [t.name for t in fig.data]
    html = plots.player_html()
    assert "<audio" in html and "plotly_click" in html and plots.EXPLORER_META in html
    assert "cannot reach" in html and "cannot play" in html and "has no audio file" in html


def test_cjk_and_hangul_names_render_with_the_fallback_font():
    import shutil

    from songspace.report.plots import style

    if not style.font_fallback():
        pytest.skip("no CJK font installed (make installs one: scripts/install_fonts.sh)"
                    if shutil.which("fc-list") else "no fontconfig")
    # the report's own figure with names as tick labels (its axes style once dropped the fallback), and a bare one
    code = ("import io, warnings; import numpy as np; from matplotlib.figure import Figure\n"
            "from songspace.report import plots\nplots.setup_notebook()\n"
            "fig = Figure(figsize=(3, 1)); fig.subplots().set_title('坂本 – バンド 한국어')\n"
            "names = np.array(['坂本龍一', 'Björk', '아이유', '坂本龍一'])\n"
            "heat = plots.composition_heatmaps(np.array([0, 0, 1, 1]), {'artist': names})\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    for f in (fig, heat): f.savefig(io.BytesIO(), format='png')\n"
            "print(sum('missing from font' in str(x.message) for x in w))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0"


def test_setup_notebook_keeps_missing_glyph_warnings_out_of_the_report():
    """An emoji in a name has no glyph offline; matplotlib's per-figure warning (with the venv's path) would
    be printed into the exported report. Other warnings still show."""
    import warnings

    import matplotlib.pyplot as plt
    from songspace.report.plots import style

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        style.setup_notebook()
        fig, ax = plt.subplots()
        ax.set_title("Noches de La Habana \N{TRUMPET}")
        fig.canvas.draw()
        plt.close(fig)
        warnings.warn("another warning", UserWarning)
    assert [str(w.message) for w in seen] == ["another warning"]
