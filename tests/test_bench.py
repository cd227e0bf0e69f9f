"""Smoke tests of every section of tools/bench.py at tiny sizes (what runs, what is written), not timings."""
import json
import math

import bench  # tools/bench.py (tests/conftest.py puts tools/ on sys.path)
import numpy as np
import pandas as pd
import pytest

TINY = ["--n-synth", "3", "--synth-seconds", "3.5", "--plain-max", "2", "--max-jobs", "1",
        "--memory-sizes", "2,3", "--train-batches", "2", "--train-windows", "200",
        "--cluster-sizes", "40,80", "--embed-sizes", "40", "--embed-methods", "tsne", "--budget", "60",
        "--chance-sizes", "60", "--chance-perms", "10", "--format-seconds", "2", "--format-repeats", "1",
        "--scan-files", "24"]
FAST = [s for s in bench.SECTIONS if s != "e2e"]  # e2e runs the whole pipeline: tested below with make faked


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    bench.main(["--out", str(out), "--jamendo", str(out / "no-such-folder"), "--only", ",".join(FAST), *TINY])
    return out


def test_every_section_writes_a_csv_and_the_summary(out):
    for name in FAST:
        assert (out / f"{name}.csv").exists(), name
    md = (out / "summary.md").read_text()
    for name in FAST:
        assert f"## {name}" in md
    assert "Load average" in md and "| corpus |" in md


def test_features_rows_have_ratio_to_plain_loop(out):
    df = pd.read_csv(out / "features.csv")
    assert list(df["n_jobs"]) == [1]
    row = df.iloc[0]
    assert row["n_tracks"] == 3 and row["plain_tracks"] == 2
    assert row["audio_s"] == pytest.approx(3 * 3.5, abs=0.1)
    assert row["full_vs_plain"] == pytest.approx(row["full_x_realtime"] / row["plain_x_realtime"], rel=0.05)
    assert row["shared_tracks"] == 2 and row["shared_x_realtime"] > 0
    assert row["full_vs_shared"] == pytest.approx(row["full_x_realtime"] / row["shared_x_realtime"], rel=0.05)
    assert row["full_vs_decode"] == pytest.approx(row["full_x_realtime"] / row["decode_x_realtime"], rel=0.05)


def test_formats_rows_per_decoder_and_the_used_one_opens(out):
    df = pd.read_csv(out / "formats.csv")
    assert set(df["format"]) == {"wav", "aiff", "flac", "ogg", "opus", "mp3", "m4a", "wma"}
    assert set(df["decoder"]) == {"soundfile", "av"}
    used = df[df["used"]]
    assert len(used) == 8 and used["opens"].all() and (used["x_realtime"] > 0).all()
    assert not df.set_index(["format", "decoder"]).loc[("m4a", "soundfile"), "opens"]  # libsndfile has no AAC
    assert df.groupby("format")["fastest"].sum().eq(1).all()


def test_scan_loads_a_tagged_library_within_its_budget(out):
    row = pd.read_csv(out / "scan.csv").iloc[0]
    assert row["files"] == row["songs"] == 24 and row["report_rows"] == 0
    assert {"artist", "album", "decade"} <= set(row["labels"].split(","))
    assert row["scan_s"] == pytest.approx(row["load_s"] + row["validate_s"], abs=0.11)


def test_shared_spectrogram_anchor_computes_the_naive_descriptor_set(tmp_path):
    tracks = bench.make_synth_corpus(tmp_path, 1, 3.0, sr=22050)
    path = tracks["audio_path"].iloc[0]
    shared, naive = bench.shared_stft_librosa_features(path), bench.plain_librosa_features(path)
    assert shared.shape == naive.shape and np.isfinite(shared).all()
    # same descriptors from one spectrogram: the spectral centroid means agree closely
    assert shared[40] == pytest.approx(naive[40], rel=0.02)


def test_chance_section_vectorised_equals_loop(out):
    df = pd.read_csv(out / "chance.csv")
    assert list(df["n_items"]) == [60] and (df["n_perm"] == 10).all()
    assert (df["max_abs_diff"] < 1e-9).all() and (df["speedup"] > 0).all()


def _fake_make(folder, run_dir, args):
    nb = run_dir / "results" / "notebooks"
    nb.mkdir(parents=True)
    for i, stage in enumerate(["00_data", "01_features"]):
        (nb / f"{stage}.ipynb").write_text(json.dumps({"metadata": {"papermill": {"duration": 2.0 + i}}}))
    (nb / "02_mlp_vae.ipynb.part.ipynb").write_text("{}")  # an unfinished stage is not counted
    (run_dir / "make.log").write_text("make: *** [06_report] Error 1\n")
    return 10.0, 123.0, int(folder.name.startswith("synthetic_3x")), run_dir / "make.log"


def test_e2e_section_table_from_notebook_durations(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "_run_make", _fake_make)
    args = bench.argparse.Namespace(work=str(tmp_path), e2e_dir="", e2e_songs="13,36", e2e_seconds=1.0,
                                    e2e_profile="tiny", e2e_targets="data,notebooks", out=str(tmp_path / "out"))
    df = bench.bench_e2e(args)
    row = df.iloc[0]
    assert row["status"] == "ok" and df.iloc[1]["status"].startswith("failed (make exit 1) after 2 stages")
    assert "Error 1" in (tmp_path / "out" / "e2e_36_make.log").read_text()  # a failed size keeps its log
    assert row["n_songs"] == 24  # 13 rounded up to whole cells of 3 genres x 4 languages
    assert row["00_data_s"] == 2.0 and row["01_features_s"] == 3.0 and "02_mlp_vae_s" not in df
    assert row["other_s"] == 5.0 and row["s_per_song"] == pytest.approx(10 / 24, abs=0.01)
    assert row["peak_rss_mb"] == 123 and any("BENCH_E2E_SONGS" in n for n in df.attrs["notes"])


def test_e2e_sizes_and_profile_from_the_environment(monkeypatch):
    monkeypatch.setenv("BENCH_E2E_SONGS", "60,1000")
    monkeypatch.setenv("BENCH_E2E_PROFILE", "full")
    ap = bench.argparse.ArgumentParser()
    bench.add_arguments(ap)
    a = ap.parse_args([])
    assert a.e2e_songs == "60,1000" and a.e2e_profile == "full"


def test_memory_runs_each_size_in_its_own_process(out):
    df = pd.read_csv(out / "memory.csv")
    assert list(df["n_tracks"]) == [2, 3]
    assert list(df["corpus_ratio"]) == [1.0, 1.5]
    assert (df["peak_rss_mb_tree"] > 50).all()  # a Python process with numpy/librosa, sampled


def test_training_has_throughputs_and_memmap_epoch(out):
    df = pd.read_csv(out / "training.csv")
    assert set(df["measure"]) == {"throughput", "fit_epoch_memmap", "fit_epoch_in_ram"}
    assert (df["samples_per_s"] > 0).all()
    assert set(df.loc[df["measure"] == "throughput", "kind"]) == {"conv_vae", "mlp_vae"}
    mm = df[df["measure"] == "fit_epoch_memmap"].iloc[0]
    assert mm["n_rows"] == 200 and mm["memmap_vs_in_ram"] > 0


def test_throughput_reports_samples_per_second():
    for kind, cfg, shape in [("mlp_vae", {"latent_dim": 4, "hidden": [16]}, (20,)),
                             ("conv_vae", {"latent_dim": 4, "n_layers": 2, "first_channels": 4,
                                           "hidden_channels": 4}, (1, 16, 32)),
                             ("multimodal_vae", {"latent_dim": 4, "hidden": [16]}, (10, 12))]:
        sps = bench.throughput(kind, cfg, shape, batch_size=8, n_batches=2, device="cpu")
        assert np.isfinite(sps) and sps > 0


def test_clustering_rows_beside_plain_alternative(out):
    df = pd.read_csv(out / "clustering.csv")
    assert set(df["task"]) == {"kmeans", "agglomerative", "2d_map"}
    km = df[df["task"] == "kmeans"]
    assert list(km["n_songs"]) == [40, 80] and (km["value"] == "measured").all()
    assert (km["ari"] > 0.9).all()  # planted, well-separated blobs are found
    assert km["plain"].str.contains("KMeans").all() and (km["speedup_vs_plain"] > 0).all()


def test_predict_seconds_fits_a_power_law():
    t, b = bench.predict_seconds([1000, 2000], [1.0, 4.0], 4000, prior=1.0)
    assert b == pytest.approx(2.0) and t == pytest.approx(16.0)
    t, b = bench.predict_seconds([1000], [2.0], 3000, prior=1.5)  # one point: the prior exponent
    assert b == 1.5 and t == pytest.approx(2.0 * 3 ** 1.5)


def test_scaled_runs_skips_and_extrapolates_past_the_budget():
    calls = []

    def fn(n):  # quadratic: 1 s at 100 rows
        calls.append(n)
        return (n / 100) ** 2, {"algorithm": "fake"}

    rows = bench.scaled_runs(fn, [100, 200, 1000], budget=30.0, prior=2.0)
    assert calls == [100, 200]  # 1000 rows would take ~100 s: not run
    assert [r["value"] for r in rows] == ["measured", "measured", "extrapolated"]
    assert rows[2]["status"].startswith("skipped") and math.isclose(rows[2]["seconds"], 100.0, rel_tol=0.01)


def test_unknown_section_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown section"):
        bench.main(["--out", str(tmp_path), "--only", "nope"])


def test_summary_keeps_notes_of_sections_from_an_earlier_run(out, tmp_path):
    import shutil

    for f in ("chance.csv", "chance.notes.json"):
        shutil.copy(out / f, tmp_path / f)
    bench.write_summary(tmp_path, {}, dict(date="d", cores=2, section_s={}, total_s=0.0, load_start=1.0, load_end=1.0))
    md = (tmp_path / "summary.md").read_text()
    assert "## chance" in md and "(from an earlier run)" in md and "max_abs_diff" in md


def test_linear_cost_separates_fixed_and_per_song_parts():
    n = np.array([100, 500, 1000])
    df = pd.DataFrame({"n_songs": n, "status": "ok", "total_s": 250 + 0.95 * n, "01_features_s": 0.6 * n,
                       "03_conv_vae_s": 110.0 + 0 * n, "other_s": 10.0 + 0 * n})
    fit = bench.linear_cost(df).set_index("column")
    assert fit.loc["total_s", "fixed_s"] == pytest.approx(250) and fit.loc["total_s", "per_song_s"] == pytest.approx(0.95)
    assert fit.loc["03_conv_vae_s", "per_song_s"] == pytest.approx(0) and fit["max_residual_pct"].max() < 1e-6
    df["05_clustering_s"] = 1e-4 * n ** 2  # quadratic: no line fits it
    assert bench.linear_cost(df).set_index("column").loc["05_clustering_s", "max_residual_pct"] > 10
    note = bench._cost_note(bench.linear_cost(df))
    assert "total = 250 s fixed + 0.95 s per song (residual <= 0 %)" in note
    assert "03_conv_vae 110 s + 0 s/song (residual <= 0 %)" in note and "05_clustering" in note
    df.loc[2, "status"] = "failed (make exit 2)"  # failed sizes do not count; two sizes give no residual
    two = bench.linear_cost(df).set_index("column")
    assert two.loc["total_s", "fixed_s"] == pytest.approx(250) and np.isnan(two.loc["total_s", "max_residual_pct"])
    assert "residual <=" not in bench._cost_note(bench.linear_cost(df))
    df.loc[1, "status"] = "failed (make exit 2)"
    assert bench.linear_cost(df).empty


def test_publish_adds_a_dated_section_after_the_mark_newest_first(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nintro\n\n<!-- bench:new -->\n\n## older run\n\nold table\n")
    summary = tmp_path / "summary.md"
    summary.write_text("# songspace benchmarks\n\nRun 2026-12-02, 2 cores.\n\n## chance\n\n| a |\n|---|\n| 1 |\n")
    bench.publish(summary, doc, "make bench BENCH_ONLY=chance")
    summary.write_text("# songspace benchmarks\n\nsecond run\n")
    bench.publish(summary, doc, "make bench")
    text = doc.read_text()
    first, second, older = text.index("`make bench`"), text.index("`make bench BENCH_ONLY=chance`"), text.index("older run")
    assert text.index("<!-- bench:new -->") < first < second < older  # newest first, history kept below
    assert "Machine: " in text and " cores (" in text and "### chance" in text  # its sections nest under the run
    assert "# songspace benchmarks" not in text


def test_publish_refuses_a_file_without_the_mark(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("# not the benchmarks page\n")
    (tmp_path / "summary.md").write_text("# t\n\nx\n")
    with pytest.raises(ValueError, match="bench:new"):
        bench.publish(tmp_path / "summary.md", doc, "make bench")
    assert doc.read_text() == "# not the benchmarks page\n"
