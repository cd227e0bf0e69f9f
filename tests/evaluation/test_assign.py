"""New songs placed into a finished run's clusters (``songspace assign``) and the clusters as playlists."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from songspace import config
from songspace.cli import main
from songspace.data import loading, synthetic
from songspace.evaluation import assign, export, playlists
from songspace.evaluation.representation import Representation
from songspace.features import audio, extract
from songspace.training import inputs
from songspace.training.scaling import block_norm

BACKEND = "descriptors"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A synthetic collection with planted genres and its descriptors (tiny parameters)."""
    root = tmp_path_factory.mktemp("assign")
    manifest = synthetic.make_synthetic(root / "raw", n_per_cell=4, duration_s=4.0, sr=16000)
    tracks = loading.load_dataset(manifest)
    settings = config.profile("tiny")
    extract.extract_audio(tracks, audio.AudioParams(**settings["audio"]), root / "processed", n_jobs=1,
                          cache_dir=False, progress=False, audio_backends=(BACKEND,))
    return root, tracks, settings


def rep_of(tracks, processed):
    X, mask, _ = inputs.load_audio_block(tracks, processed, BACKEND)
    ids = tracks["track_id"].astype(str).to_numpy()
    return Representation(X[mask], ids[mask], "baseline", "audio", block_norm(BACKEND), backend=BACKEND)


def run(tracks, processed, results, settings, method="kmeans", k=3):
    """What 05 writes for one clustering of ``tracks``: clusters.csv and the assign state."""
    rep = rep_of(tracks, processed)
    songs = rep.track_ids
    rec = {"rep": "audio_descriptors", "method": method, "k": k, "seed": 0, "song_set": "songs with audio"}
    clusters = export.cluster_table({rec["rep"]: rep}, tracks, rec, pd.DataFrame(columns=["rep", "method", "label_column"]),
                                    {rec["song_set"]: songs}, seed=0)
    dirs = config.dataset_dirs("x", results_root=results)
    state = assign.save_state(rec, rep, songs, clusters, tracks, settings, dirs)
    return clusters.set_index("track_id")["cluster"], state


def agreement(full: pd.Series, part: pd.Series, shared, held) -> float:
    """Share of ``held`` songs whose cluster in ``part`` is, after matching the ids on ``shared``, their ``full`` one."""
    ct = pd.crosstab(part.loc[shared], full.loc[shared])
    r, c = linear_sum_assignment(-ct.to_numpy())
    mapping = dict(zip(ct.index[r], ct.columns[c]))
    return float(np.mean([mapping.get(part[t]) == full[t] for t in held]))


@pytest.mark.parametrize("method", ["kmeans", "agglomerative"])
def test_held_out_tenth_lands_where_a_full_run_puts_it(planted, tmp_path, method):
    root, tracks, settings = planted
    full, _ = run(tracks, root / "processed", tmp_path / "full", settings, method)
    held = tracks["track_id"].astype(str).to_numpy()[::10]
    rest = tracks[~tracks["track_id"].astype(str).isin(held)]
    part, state = run(rest, root / "processed", tmp_path / "part", settings, method)
    assert state["assignable"] and state["placed_by"] == ("kmeans.predict" if method == "kmeans" else "nearest centre")
    new = tracks[tracks["track_id"].astype(str).isin(held)][["track_id", "audio_path", "genre"]]
    new.to_csv(tmp_path / "new.csv", index=False)
    assert main(["assign", str(tmp_path / "new.csv"), "--results", str(tmp_path / "part")]) == 0
    got = pd.read_csv(tmp_path / "part" / "assigned.csv", dtype={"track_id": str})
    assert len(got) == len(held) and got["cluster"].notna().all() and (got["placed_by"] == state["placed_by"]).all()
    assert got["neighbour_1"].notna().all() and got["neighbour_ids"].str.count(";").eq(9).all()
    part = pd.concat([part, got.set_index("track_id")["cluster"]])
    share = agreement(full, part, rest["track_id"].astype(str), held)
    assert share >= 0.9, share


def test_assign_names_what_a_results_folder_lacks(planted, tmp_path, capsys):
    root, tracks, settings = planted
    one = tracks["audio_path"].iloc[0]
    assert main(["assign", one, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "state.json: missing" in err
    run(tracks, root / "processed", tmp_path, settings)
    state = tmp_path / "assign" / "state.json"
    s = json.loads(state.read_text())
    state.write_text(json.dumps({**s, "assignable": False, "why": "mlp_vae needs its encoder"}))
    assert main(["assign", one, "--results", str(tmp_path)]) == 2
    assert "mlp_vae needs its encoder" in capsys.readouterr().err
    state.write_text(json.dumps(s))
    (tmp_path / "assign" / "estimator.joblib").unlink()
    assert main(["assign", one, "--results", str(tmp_path)]) == 2
    assert "estimator.joblib: missing" in capsys.readouterr().err
    # a song without usable audio is a row that says so, the batch goes on
    run(tracks, root / "processed", tmp_path, settings)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "broken.wav").write_bytes(b"not audio")
    (tmp_path / "new" / "empty.mp3").write_bytes(b"")
    # nothing placed: exit 1, and the row gives the file's own reason (its temporary folder is gone)
    assert main(["assign", str(tmp_path / "new"), "--results", str(tmp_path)]) == 1
    got = pd.read_csv(tmp_path / "assigned.csv").set_index("track_id")
    assert got["cluster"].isna().all() and got["problem"].str.startswith("unreadable_audio: ").all(), got["problem"]
    assert got.loc["empty", "problem"] == "unreadable_audio: empty file (0 bytes)"  # as the scan says it
    err = capsys.readouterr().err
    assert "songspace-assign-" not in err and f"the problem column of {tmp_path / 'assigned.csv'}" in err
    ok = assign.normalise(np.ones((2, 3)), "l2", {})
    assert np.allclose(np.linalg.norm(ok, axis=1), 1)


def test_playlists_resolve_to_the_files_with_their_lengths(planted, tmp_path):
    root, tracks, settings = planted
    clusters = export.cluster_table({"a": rep_of(tracks, root / "processed")}, tracks,
                                    {"rep": "a", "method": "kmeans", "k": 3, "song_set": "s"},
                                    pd.DataFrame(columns=["rep", "method", "label_column"]),
                                    {"s": tracks["track_id"].astype(str).to_numpy()[2:]})
    extra = pd.DataFrame({"track_id": ["lyrics_only"], "name": ["x – y"], "cluster": [0]})
    out = playlists.write_playlists(pd.concat([clusters, extra.astype({"cluster": "Int64"})]),
                                    tracks, tmp_path / "results" / "playlists", {0: ["female vocalists", "pop"]})
    files = sorted(out.glob("*.m3u8"))
    assert [f.name for f in files][:1] == ["cluster-00-female-vocalists-pop.m3u8"] and len(files) == 3
    entries = 0
    for f in files:
        lines = f.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "#EXTM3U" and len(lines) % 2 == 1
        for info, path in zip(lines[1::2], lines[2::2]):
            seconds, name = info.removeprefix("#EXTINF:").split(",", 1)
            assert int(seconds) == 4 and " – " in name and not Path(path).is_absolute()
            assert (f.parent / path).resolve().is_file()
            entries += 1
    assert entries == clusters["cluster"].notna().sum() == len(tracks) - 2  # the lyrics-only song has no entry


def test_a_pca_baseline_places_the_collection_songs_back_where_it_clustered_them(planted, tmp_path):
    root, tracks, settings = planted
    raw = rep_of(tracks, root / "processed")
    from songspace.evaluation import cluster

    Xp, pca = cluster.fit_projection(raw.X, 4, raw.norm)
    rep = Representation(Xp, raw.track_ids, "baseline", "audio", "none", backend=BACKEND, transform=pca)
    rec = {"rep": "audio_pca", "method": "kmeans", "k": 3, "seed": 0, "song_set": "songs with audio"}
    clusters = export.cluster_table({"audio_pca": rep}, tracks, rec, pd.DataFrame(columns=["rep", "method", "label_column"]),
                                    {rec["song_set"]: rep.track_ids}, seed=0)
    state = assign.save_state(rec, rep, rep.track_ids, clusters, tracks, settings,
                              config.dataset_dirs("x", results_root=tmp_path))
    assert state["assignable"] and (tmp_path / "assign" / assign.TRANSFORM).is_file()
    some = tracks.iloc[::5][["track_id", "audio_path"]]
    some.to_csv(tmp_path / "some.csv", index=False)
    got, _ = assign.assign(tmp_path / "some.csv", tmp_path)
    want = clusters.set_index("track_id")["cluster"]
    assert (got.set_index("track_id")["cluster"] == want.loc[some["track_id"].astype(str)]).all()
    assert (got["neighbour_ids"].str.split(";").str[0] == got["track_id"]).all()  # its own nearest song
    assert np.allclose(got["distances"].str.split(";").str[0].astype(float), 0, atol=1e-3)


def test_corpus_fitted_lyrics_and_latents_say_why_they_cannot_place(planted):
    ids = np.array(["a", "b"])
    feats, why = assign.placeable(Representation(np.eye(2), ids, "baseline", "lyrics", "l2", backend="tfidf"))
    assert feats is None and "fitted on the collection's own texts" in why
    feats, why = assign.placeable(Representation(np.eye(2), ids, "model", "audio", "none", kind="mlp_vae"))
    assert feats is None and "encoder" in why
    feats, why = assign.placeable(Representation(np.eye(2), ids, "baseline", "lyrics", "l2", backend="e5"))
    assert feats == {"modality": "lyrics", "backend": "e5"} and why is None


def test_a_single_file_is_named_by_its_tags_in_every_audio_format(tmp_path):
    from tagged import write_audio, write_tags

    for suffix in (".wav", ".wma", ".flac"):
        f = write_audio(tmp_path / f"one{suffix}", seconds=1.0)
        write_tags(f, title="A Song", artist="The Band")
        t = assign.new_tracks(f)
        assert t["display_name"].tolist() == ["The Band \u2013 A Song"] and t["has_audio"].all(), suffix
    (tmp_path / "one.Txt").write_text("words", encoding="utf-8")
    assert assign.new_tracks(tmp_path / "one.flac")["lyrics"].tolist() == ["words"]


def test_playlists_leave_out_songs_whose_audio_failed(planted, tmp_path):
    root, tracks, settings = planted
    clusters = export.cluster_table({"a": rep_of(tracks, root / "processed")}, tracks,
                                    {"rep": "a", "method": "kmeans", "k": 3, "song_set": "s"},
                                    pd.DataFrame(columns=["rep", "method", "label_column"]),
                                    {"s": tracks["track_id"].astype(str).to_numpy()})
    failed = tracks.assign(has_audio=tracks.index >= 3)  # a path, but the file is missing or did not decode
    out = playlists.write_playlists(clusters, failed, tmp_path / "playlists")
    listed = [l for f in out.glob("*.m3u8") for l in f.read_text(encoding="utf-8").splitlines()[2::2]]
    assert len(listed) == len(tracks) - 3
    from songspace.report import plots

    audio = plots.audio_sources(failed, tmp_path)
    assert (audio["path"].iloc[:3] == "").all() and (audio["path"].iloc[3:] != "").all()


def test_playlist_lengths_are_what_01_decoded_not_the_header(planted, tmp_path):
    root, tracks, _ = planted
    # a file cut short: its header still says 4 s, 01 decoded 2.5 s of it; the others come from their headers
    some = tracks.iloc[:3]
    pd.DataFrame({"track_id": some["track_id"].astype(str).iloc[:1], "duration_s": [2.5]}).to_parquet(
        tmp_path / "descriptors_tracks.parquet")
    got = playlists.durations(some, tmp_path)
    assert got.round(2).tolist() == [2.5, 4.0, 4.0]
    assert playlists.durations(some).round(2).tolist() == [4.0, 4.0, 4.0]
