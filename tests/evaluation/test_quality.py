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
