"""The real-data quality table of `make bench BENCH_COLLECTION=...`."""
import pandas as pd
import pytest
from songspace.evaluation import quality


def test_quality_table_ranks_and_marks_chance(tmp_path, capsys):
    rows = [dict(song_set="songs with audio", label_column="genre", rep=r, family=f, modality="audio", norm=n,
                 method="kmeans", n_items=100, k=10, ami_mean=a, ami_std=0.01, ami_chance_p95_mean=0.05,
                 nmi_mean=a + 0.1, ari_mean=a - 0.1, n_seeds=5)
            for r, f, n, a in [("audio_descriptors", "baseline", "zscore", 0.55), ("audio_raw", "baseline", "l2", 0.87),
                               ("mlp_vae", "model", "none", 0.03)]]
    rows.append({**rows[0], "label_column": "none", "rep": "x"})
    pd.DataFrame(rows).to_csv(tmp_path / "representation_comparison.csv", index=False)
    t = quality.quality_table(tmp_path)
    assert t["rep"].tolist() == ["audio_raw", "audio_descriptors", "mlp_vae"]  # best first, unlabelled rows out
    assert t["clears_chance"].tolist() == [True, True, False]
    assert quality.main([str(tmp_path), str(tmp_path / "q.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "q.csv")) == 3 and "audio_raw" in capsys.readouterr().out


def test_unlabelled_collection_says_why(tmp_path, capsys):
    pd.DataFrame([dict(song_set="s", label_column="none", rep="x", ami_mean=float("nan"))]).to_csv(
        tmp_path / "representation_comparison.csv", index=False)
    with pytest.raises(ValueError, match="needs a label column"):
        quality.quality_table(tmp_path)
    assert quality.main([str(tmp_path), str(tmp_path / "q.csv")]) == 2
    assert "needs a label column" in capsys.readouterr().err


def test_stage_times_read_papermill_durations(tmp_path):
    import json
    nb = tmp_path / "notebooks"
    nb.mkdir()
    for name, sec in [("00_data", 2.0), ("01_features", 6.0)]:
        (nb / f"{name}.ipynb").write_text(json.dumps({"metadata": {"papermill": {"duration": sec}}, "cells": []}))
    (nb / "02_mlp_vae.ipynb.part.ipynb").write_text("{}")  # a stage still running is not a stage time
    t = quality.stage_times(tmp_path, wall_seconds=10.0)
    assert t["stage"].tolist() == ["00_data", "01_features", "total (make all)"]
    assert t["seconds"].tolist() == [2.0, 6.0, 10.0] and t["share"].tolist() == [0.2, 0.6, 1.0]
    assert quality.stage_times(tmp_path)["share"].tolist() == [0.25, 0.75]
    with pytest.raises(FileNotFoundError, match="no executed notebooks"):
        quality.stage_times(tmp_path / "missing")
