"""The report's loader reads a results folder in one call (a missing table is an error naming who writes it),
and its sections turn what was loaded into what the report shows."""
import json

import pandas as pd
import pytest
from IPython.display import HTML, Markdown
from songspace import config
from songspace.data import loading
from songspace.report import results, sections
from test_summary import _row


@pytest.fixture
def dirs(tmp_path):
    """A collection of 12 labelled songs after 00, and a results folder after 04 and 05 with nothing to take away."""
    d = config.dataset_dirs("tiny", tmp_path / "data", tmp_path / "results")
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(12)], "has_audio": True, "has_lyrics": True,
                           "genre": ["rock", "jazz", "pop"] * 4, "language": ["en", "fr"] * 6,
                           "artist": "a", "title": [f"song {i}" for i in range(12)]})
    tracks.attrs.update(label_columns=["genre"], layout="manifest")
    loading.write_interim(tracks, pd.DataFrame(columns=loading.REPORT_COLUMNS), d["interim"])
    d["results"].mkdir(parents=True)
    table = pd.DataFrame([_row("mlp_vae", "model", "genre", 0.5, n=12),
                          _row("audio_raw", "baseline", "genre", 0.4, n=12)])
    table.to_csv(d["representation_comparison"], index=False)
    # written with a header and no rows: nothing compared, nothing swept
    pd.DataFrame(columns=["song_set", "label_column", "rep", "method"]).to_csv(d["cluster_comparison"], index=False)
    pd.DataFrame(columns=["run_name", "model", "status"]).to_csv(d["sweep_metrics"], index=False)
    return d


def test_load_results_reads_what_is_there_and_leaves_the_rest_empty(dirs):
    r = results.load_results(dirs)
    assert len(r.tracks) == 12 and r.labels == ["genre"] and r.validation.empty
    assert list(r.table["rep"]) == ["mlp_vae", "audio_raw"]
    assert r.comparison.empty and r.sweep.empty and r.maps == {}
    assert r.runs.empty and "run_dir" in r.runs  # runs.read_index: the index columns, no rows
    assert r.recommended is None and r.clusters is None and r.neighbours is None
    assert r.meta.index.name == "track_id" and "track_id" in r.tracks  # meta is a copy, tracks untouched


def test_load_results_reads_the_take_away_with_string_ids(dirs):
    dirs["recommended"].write_text(json.dumps({"rep": "audio_raw", "reason": "best AMI", "k": 3}))
    pd.DataFrame({"track_id": ["007", "t1"], "cluster": [0, 1]}).to_csv(dirs["clusters"], index=False)
    pd.DataFrame({"track_id": ["007"], "rank": [1], "neighbour_id": ["010"], "distance": [0.1]}).to_csv(
        dirs["neighbours"], index=False)
    r = results.load_results(dirs)
    assert r.recommended["rep"] == "audio_raw"
    assert list(r.clusters["track_id"]) == ["007", "t1"] and r.neighbours["neighbour_id"].iloc[0] == "010"


def test_load_results_needs_the_data_stage(tmp_path):
    with pytest.raises(loading.DatasetError, match="tracks.parquet"):
        results.load_results(config.dataset_dirs("none", tmp_path / "data", tmp_path / "results"))


def test_a_missing_results_table_names_the_notebook_that_writes_it(dirs):
    dirs["sweep_metrics"].unlink()
    with pytest.raises(FileNotFoundError, match="metrics_summary.csv: missing; run 04_sweeps"):
        results.load_results(dirs)


def test_sections_say_what_is_missing_and_show_what_is_there(dirs):
    r = results.load_results(dirs)
    summary = sections.summary_section(r)
    assert isinstance(summary[0], Markdown) and "Against **genre**" in summary[0].data
    assert hasattr(summary[1], "savefig") and "Best representation per label" in summary[2].data
    text, counts = sections.data_section(r, "tiny")
    assert text.data.startswith("Collection **tiny** (manifest). Validation found no problem")
    assert isinstance(counts, HTML) and "genre classes" in counts.data
    for section, says in [(sections.maps_section, "No map was written"),
                          (sections.sweeps_section, "No sweep configuration ran"),
                          (sections.algorithms_section, "No clustering algorithm was compared")]:
        (only,) = section(r)
        assert says in only.data
    assert sections.explorer_section(r) == []
    settings = config.profile("tiny")
    assert "No clusters were written" in sections.clusters_section(r, settings)[0].data
    assert "No model was trained" in sections.training_section(r, settings)[-1].data
    assert "mlp_vae" in sections.appendix_section(r)[0].data


def test_traversal_section_shows_the_dimensions_then_the_figure(dirs, monkeypatch):
    r = results.load_results(dirs)
    r.runs = pd.DataFrame({"model": ["conv_beta_vae"], "run_dir": [str(dirs["runs"] / "conv_beta_vae-0")]})
    seen = {}

    def traversal(run_dir, params):
        seen.update(run_dir=run_dir, params=params)
        return "FIGURE", [3, 1]

    monkeypatch.setattr(sections.summary, "traversal", traversal)
    text, fig = sections.traversal_section(r, config.profile("tiny"))
    assert text.data.startswith("**β-VAE latent traversal.** Dimensions [3, 1] (largest variance") and fig == "FIGURE"
    assert seen["run_dir"] == dirs["runs"] / "conv_beta_vae-0" and seen["params"]["sr"] == 16000


def test_cluster_ids_stay_integers_when_a_song_has_no_cluster(dirs):
    dirs["recommended"].write_text(json.dumps({"rep": "audio_raw", "reason": "best AMI", "k": 3}))
    pd.DataFrame({"track_id": ["t0", "t1", "t2"], "cluster": [0, None, 2], "cluster_ae": [None, 1, 1]}).to_csv(
        dirs["clusters"], index=False)
    pd.DataFrame(columns=["track_id", "rank", "neighbour_id", "distance"]).to_csv(dirs["neighbours"], index=False)
    c = results.load_results(dirs).clusters
    assert str(c["cluster"].dtype) == "Int64" and str(c["cluster_ae"].dtype) == "Int64"
    assert [str(v) for v in c["cluster"]] == ["0", "<NA>", "2"]  # "cluster 2", never "cluster 2.0"


def test_the_report_counts_a_missing_label_once_per_column(dirs):
    report = pd.DataFrame({"track_id": ["t0", "t0", "t1"], "modality": "label", "problem": "missing_label",
                           "detail": ["column 'genre' is empty", "column 'artist' is empty", "column 'genre' is empty"],
                           "path": "x", "kept": True})
    tracks = pd.read_parquet(dirs["interim"] / "tracks.parquet")
    loading.write_interim(tracks, report, dirs["interim"])
    assert len(loading.read_report(dirs["interim"])) == 3
