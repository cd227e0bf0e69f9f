"""Collections of every shape run 00 -> 06 and give back a report, clusters.csv and neighbours.csv,
without changing a byte of the collection; the README's own-data route runs as written."""
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from songspace.data import loading, synthetic
from test_collections import make_bad_collection, mark_unread, tree_hashes, was_read

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["00_data", "01_features", "02_mlp_vae", "03_conv_vae", "04_sweeps", "05_clustering", "06_report"]
# Fewer clustering algorithms and one map method than `make all`: the shapes, not the methods, are tested here.
FAST = {"05_clustering": {"methods": ["kmeans", "agglomerative"], "map_methods": ["tsne"]}}

pytestmark = [pytest.mark.slow]


def run_pipeline(source: Path, out: Path, name: str, extra: dict | None = None) -> dict:
    """Execute 00 -> 06 on ``source``; ``extra`` maps a notebook to more parameters."""
    import papermill as pm

    out.mkdir(parents=True, exist_ok=True)
    notebooks = {}
    for nb in ORDER:
        dest = out / "results" / "notebooks" / f"{nb}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        params = {"dataset": name, "data_root": str(out / "data"), "results_root": str(out / "results"),
                  "profile": "tiny", **FAST.get(nb, {}), **(extra or {}).get(nb, {})}
        if nb == "00_data":
            params["source"] = str(source)
        pm.execute_notebook(str(ROOT / "notebooks" / f"{nb}.ipynb"), str(dest), kernel_name="python3",
                            cwd=str(ROOT / "notebooks"), progress_bar=False, parameters=params)
        notebooks[nb] = dest
    return notebooks


def text_of(nb_path: Path) -> str:
    """Every output of an executed notebook as one string (errors included)."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                parts.append(f"ERROR {o.get('ename')}: {o.get('evalue')}")
            parts.append("".join(o.get("text", "")))
            for key in ("text/markdown", "text/plain"):
                parts.append("".join(o.get("data", {}).get(key, "")))
    return "\n".join(parts)


def check_take_away(results: Path, songs: set) -> None:
    clusters = pd.read_csv(results / "clusters.csv", dtype={"track_id": str})
    assert set(clusters["track_id"]) == songs and clusters["cluster"].notna().sum() >= 6
    neighbours = pd.read_csv(results / "neighbours.csv", dtype={"track_id": str, "neighbour_id": str})
    assert (neighbours["track_id"] != neighbours["neighbour_id"]).all()
    assert neighbours.groupby("track_id")["rank"].max().min() >= 5
    rec = json.loads((results / "recommended.json").read_text())
    assert "cluster" in clusters and rec["k"] >= 2 and rec["reason"]


@pytest.mark.xdist_group("shape_a")
@pytest.mark.parametrize("shape, present, absent", [
    ("folder", ["Label columns scored: folder", "was read from each song's lyrics (py3langid)", "cvae_language"],
     ["the CVAE's condition column 'language' is", "No `language` column"]),
    ("audio_only", ["no song has usable lyrics", "Label columns scored: genre"], ["multimodal_vae-"]),
])
def test_audio_shapes_run_end_to_end(tmp_path, shape, present, absent):
    source = synthetic.make_shape(tmp_path / "collection", shape, n_per_cell=2, duration_s=3.0)
    before = tree_hashes(source)
    # the audio-only run also takes the large-collection route: a budget far below what tiny training needs
    # (20 samples: less than one epoch of the ConvVAE's one musicnn patch per 3-s song, so its epochs are cut)
    tight = {"overrides": {"budget": {"run_samples": 20, "sweep_samples": 100}}} if shape == "audio_only" else {}
    nbs = run_pipeline(source, tmp_path / "out", shape, {nb: tight for nb in ("02_mlp_vae", "03_conv_vae", "04_sweeps")})
    every = "\n".join(text_of(p) for p in nbs.values())
    assert "ERROR" not in every and "Traceback" not in every
    if tight:
        assert "random window of every training song per epoch and" in text_of(nbs["03_conv_vae"])
        assert "Budget: ConvVAE configurations" in text_of(nbs["04_sweeps"])
        assert "Training budget" in text_of(nbs["06_report"])
        runs = pd.read_csv(tmp_path / "out" / "results" / "runs_conv.csv")
        assert runs["budget_note"].fillna("").str.contains("random window").all()
    for words in present:
        assert words in every, words
    for words in absent:
        assert words not in every, words
    songs = set(pd.read_parquet(tmp_path / "out" / "data" / "interim" / shape / "tracks.parquet")["track_id"])
    check_take_away(tmp_path / "out" / "results", songs)
    assert "Which songs go together" in text_of(nbs["06_report"]) or (tmp_path / "out" / "results" / "clusters.csv").exists()
    assert tree_hashes(source) == before


@pytest.mark.xdist_group("shape_b")
def test_lyrics_only_collection_runs_end_to_end(tmp_path):
    source = synthetic.make_shape(tmp_path / "collection", "lyrics_only", n_per_cell=2, duration_s=3.0)
    before = tree_hashes(source)
    nbs = run_pipeline(source, tmp_path / "out", "lyrics")
    every = "\n".join(text_of(p) for p in nbs.values())
    assert "ERROR" not in every
    assert "no song has usable audio" in text_of(nbs["01_features"])
    assert "no song has usable audio" in text_of(nbs["03_conv_vae"])
    assert "cvae_language" in text_of(nbs["02_mlp_vae"])  # the CVAE trains on the language it has
    runs = pd.read_csv(tmp_path / "out" / "results" / "runs_conv.csv")
    assert runs.empty
    check_take_away(tmp_path / "out" / "results", set(pd.read_csv(source / "manifest.csv")["track_id"]))
    assert tree_hashes(source) == before


@pytest.mark.xdist_group("shape_b")
def test_collection_with_every_bad_case_runs_end_to_end(tmp_path):
    root, outside = tmp_path / "collection", tmp_path / "outside"
    expected = make_bad_collection(root, outside)
    before = tree_hashes(root)
    mark_unread(outside)
    nbs = run_pipeline(root, tmp_path / "out", "bad")
    every = "\n".join(text_of(p) for p in nbs.values())
    assert "ERROR" not in every and "Traceback" not in every
    # 00 opens the files, 01 decodes each once: together they name every bad case
    report = loading.read_report(tmp_path / "out" / "data" / "interim" / "bad", tmp_path / "out" / "data" / "processed" / "bad")
    for tid, (modality, problem, words) in expected.items():
        tid = tid.split("#")[0]
        hit = report[(report["track_id"] == tid) & (report["problem"] == problem)]
        assert len(hit) and hit["detail"].str.contains(words, regex=False).any(), (tid, problem)
    assert not was_read(outside)  # no process of the pipeline read a file outside the collection
    tracks = pd.read_parquet(tmp_path / "out" / "data" / "interim" / "bad" / "tracks.parquet")
    assert not tracks["lyrics"].fillna("").str.contains("SECRET|root:", regex=True).any()
    assert (tmp_path / "out" / "results" / "clusters.csv").exists()
    assert tree_hashes(root) == before


@pytest.mark.xdist_group("shape_a")
def test_readme_route_unlabelled_read_only_folder_outside_the_repo(tmp_path):
    """`make all DATASET_PATH=...` as the README says, on a collection without labels, then once more:
    nothing re-runs while the collection is unchanged."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make all DATASET_PATH=" in readme
    source = synthetic.make_shape(tmp_path / "my music", "no_labels", n_per_cell=2, duration_s=3.0)
    for p in [source, *source.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)  # read-only (root ignores it: the hashes are the proof)
    before = tree_hashes(source)
    env = {**os.environ, "MAKEFLAGS": ""}
    cmd = ["make", "all", f"DATASET_PATH={source}", "PROFILE=tiny", f"RESULTS={tmp_path / 'results'}",
           f"DATA={tmp_path / 'data'}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = tmp_path / "results"
    assert (results / "report.html").exists()
    report = (results / "report.html").read_text(encoding="utf-8")
    assert "internal metrics" in report and "Which songs go together" in report
    executed = sorted(p.stem for p in (results / "notebooks").glob("*.ipynb"))
    assert len(executed) == 7 and executed == sorted(p.stem for p in (results / "notebooks").glob("*.html"))
    check_take_away(results, set(pd.read_csv(source / "manifest.csv")["track_id"]))
    assert tree_hashes(source) == before
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    # unchanged collection: nothing re-runs or re-renders
    assert again.returncode == 0 and "papermill" not in again.stdout and "nbconvert" not in again.stdout
