"""Smoke tests of every benchmark section at tiny sizes (what runs, what is written), not timings."""
import math

import pandas as pd
import pytest

from songspace import bench

TINY = ["--n-synth", "3", "--synth-seconds", "3.5", "--plain-max", "2", "--max-jobs", "1",
        "--memory-sizes", "2,3", "--train-batches", "2", "--train-windows", "200",
        "--cluster-sizes", "40,80", "--embed-sizes", "40", "--embed-methods", "tsne", "--budget", "60"]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    bench.main(["--out", str(out), "--jamendo", str(out / "no-such-folder"), *TINY])
    return out


def test_every_section_writes_a_csv_and_the_summary(out):
    for name in bench.SECTIONS:
        assert (out / f"{name}.csv").exists(), name
    md = (out / "summary.md").read_text()
    for name in bench.SECTIONS:
        assert f"## {name}" in md
    assert "Load average" in md and "| corpus |" in md


def test_features_rows_have_ratio_to_plain_loop(out):
    df = pd.read_csv(out / "features.csv")
    assert list(df["n_jobs"]) == [1]
    row = df.iloc[0]
    assert row["n_tracks"] == 3 and row["plain_tracks"] == 2
    assert row["audio_s"] == pytest.approx(3 * 3.5, abs=0.1)
    assert row["full_vs_plain"] == pytest.approx(row["full_x_realtime"] / row["plain_x_realtime"], rel=0.05)


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
