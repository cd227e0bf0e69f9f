"""The glue of notebooks 02-05: per-seed inputs, representations, scoring and sweep identity."""

import numpy as np
import pandas as pd
import pytest
from songspace.evaluation import baselines, compare, sweep, verdicts
from songspace.training import inference, inputs, loop, runs, store
from songspace.training.split import split_by_song


def planted_blocks(n_per=6, seed=0):
    rng = np.random.default_rng(seed)
    langs, genres = np.repeat(["en", "fr", "de"], n_per), np.tile(["pop", "rock"], 3 * n_per // 2)
    n = len(langs)
    audio = rng.normal(size=(n, 10)) + 3 * (genres == "pop")[:, None]
    lyrics = rng.normal(size=(n, 6)) + 3 * np.stack([langs == l for l in ("en", "fr", "de")], 1).repeat(2, 1)
    mask_audio = np.arange(n) % 3 != 0  # a third of the songs lack audio
    audio[~mask_audio] = 0
    ids = np.array([f"t{i:02d}" for i in range(n)])
    tracks = pd.DataFrame({"track_id": ids, "language": langs, "genre": genres,
                           "has_audio": mask_audio, "has_lyrics": True})
    blocks = inputs.Blocks(ids, audio.astype(np.float32), lyrics.astype(np.float32), mask_audio,
                              np.ones(n, bool), [f"a{i}" for i in range(10)], "test")
    return tracks, blocks


TRAIN = {"epochs": 3, "batch_size": 8, "lr": 1e-3, "warmup_epochs": 1, "patience": 3}


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    tracks, blocks = planted_blocks()
    runs_root = tmp_path_factory.mktemp("runs")
    index = runs.train_family(blocks, tracks, 2, TRAIN, [0, 1], runs_root, n_jobs=1, threads=1)
    return tracks, blocks, index


def test_each_seed_standardises_on_its_own_training_songs(family):
    tracks, blocks, _ = family
    for seed in (0, 1):
        X = inputs.model_inputs(blocks, seed=seed)["hybrid"]
        train_rows, _ = split_by_song(blocks.track_ids, 0.2, seed)
        rows = train_rows & blocks.mask_audio
        # the audio block is centred on exactly this seed's training songs that have audio
        np.testing.assert_allclose(X[rows, :10].mean(0), 0, atol=1e-5)
    a0 = inputs.model_inputs(blocks, seed=0)["hybrid"]
    a1 = inputs.model_inputs(blocks, seed=1)["hybrid"]
    assert not np.allclose(a0, a1)


def test_run_inputs_match_the_run_split(family):
    tracks, blocks, index = family
    r = index[(index["model"] == "mlp_vae") & (index["seed"] == 1)].iloc[0]
    res = store.load_run(r["run_dir"])
    X = inputs.model_inputs(blocks, seed=1)["hybrid"]
    z = inference.encode_all(res.model, X)
    np.testing.assert_allclose(z, res.latents, atol=1e-5)  # the run was trained on seed 1's standardisation


def test_representations_label_the_autoencoder_a_baseline_and_restrict_multimodal_views(family):
    tracks, blocks, index = family
    reps = compare.representations(index, blocks)
    assert set(reps) == {0, 1}
    r0 = reps[0]
    assert r0["ae"].family == "baseline" and r0["mlp_vae"].family == "model"
    assert r0["cvae_language"].condition_column == "language"
    assert len(r0["multimodal_audio"].track_ids) == int(blocks.mask_audio.sum())
    assert len(r0["multimodal_lyrics"].track_ids) == len(tracks)


def test_score_same_songs_k_from_classes_skips_with_reasons(family):
    tracks, blocks, index = family
    model_reps = compare.representations(index, blocks)
    base = baselines.baselines(blocks, pca_dim=2)
    long = compare.score(model_reps, base, tracks, ["language", "genre"], blocks.track_ids, n_perm=5)
    ok = long[long["status"] == "ok"]
    assert set(ok.loc[ok["label_column"] == "language", "k"]) == {3}
    assert set(ok.loc[ok["label_column"] == "genre", "k"]) == {2}
    assert (ok["n_items"] == len(tracks)).all()
    # the CVAE is never scored against the column it was conditioned on
    cv = long[(long["rep"] == "cvae_language") & (long["label_column"] == "language")]
    assert len(cv) and (cv["status"] == "skipped").all()
    # audio-only representations lack songs: skipped with a reason, not dropped silently
    audio = long[long["rep"] == "audio_raw"]
    assert (audio["status"] == "skipped").all() and audio["skip_reason"].str.contains("lacks").all()
    summary = compare.summarise(long)
    assert {"ami_mean", "ami_std", "ami_chance_mean", "noise_fraction_mean", "n_seeds"} <= set(summary.columns)
    assert (summary.loc[summary["family"] == "model", "n_seeds"] == 2).all()
    # two worker processes give the same rows, in the same order, as one
    two = compare.score(model_reps, base, tracks, ["language", "genre"], blocks.track_ids, n_perm=5, n_jobs=2)
    pd.testing.assert_frame_equal(two, long)


def test_sweep_hash_changes_with_context():
    spec = [{"model": "mlp_vae", "beta": [1.0, 4.0], "latent_dim": 4}]
    a = sweep.sweep_configs(spec, context={"seeds": [0, 1], "data": "x"})
    b = sweep.sweep_configs(spec, context={"seeds": [0, 1], "data": "y"})
    c = sweep.sweep_configs(spec, context={"seeds": [0, 1], "data": "x"})
    assert [x["config_hash"] for x in a] == [x["config_hash"] for x in c]
    assert not set(x["config_hash"] for x in a) & set(x["config_hash"] for x in b)
    assert all(x["run_name"].startswith("mlp_vae-") for x in a)


def test_verdict_needs_a_gap_beyond_seed_spread():
    a = pd.Series({"ami_mean": 0.50, "ami_std": 0.05})
    assert verdicts.verdict(a, pd.Series({"ami_mean": 0.40, "ami_std": 0.02}))[0] == "beats"
    assert verdicts.verdict(a, pd.Series({"ami_mean": 0.47, "ami_std": 0.01}))[0] == "ties with"
    assert verdicts.verdict(a, pd.Series({"ami_mean": 0.70, "ami_std": 0.01}))[0] == "loses to"


def test_lyrics_vae_sees_the_lyrics_block_alone_with_its_own_split(family):
    tracks, blocks, index = family
    r = index[(index["model"] == "lyrics_vae") & (index["seed"] == 1)].iloc[0]
    res = store.load_run(r["run_dir"])
    lyr = inputs.lyrics_inputs(blocks, seed=1)
    assert lyr["X"].shape == (len(tracks), blocks.lyrics.shape[1])  # no zero audio block
    np.testing.assert_allclose(inference.encode_all(res.model, lyr["X"]), res.latents, atol=1e-5)
    assert compare.representations(index, blocks)[1]["lyrics_vae"].modality == "lyrics"
    # songs without lyrics are left out, and the split is the one loop.fit makes of exactly those songs
    part = inputs.Blocks(blocks.track_ids, blocks.audio, blocks.lyrics, blocks.mask_audio,
                            np.arange(len(tracks)) % 4 != 0, blocks.audio_names, "test")
    lyr = inputs.lyrics_inputs(part, seed=2)
    np.testing.assert_array_equal(lyr["track_ids"], blocks.track_ids[part.mask_lyrics])
    np.testing.assert_array_equal(lyr["train_mask"], split_by_song(lyr["track_ids"], 0.2, 2)[0])
    np.testing.assert_allclose(lyr["X"][lyr["train_mask"]].mean(0), 0, atol=1e-5)


def test_lyrics_vae_is_skipped_when_the_hybrid_input_is_lyrics_alone():
    from songspace.data.plan import Plan

    tracks, _ = planted_blocks()
    specs, skipped = runs.family(Plan.of(tracks.assign(has_audio=False)))
    assert "lyrics_vae" not in specs and "mlp_vae" in specs and "lyrics alone" in skipped["lyrics_vae"]
    specs, _ = runs.family(Plan.of(tracks))
    assert "lyrics_vae" in specs


def test_window_level_scores_an_even_share_of_each_songs_windows_above_the_cap(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.repeat([f"t{i}" for i in range(6)], 50)
    Z = (rng.normal(size=(300, 3)) + np.repeat([[4, 0, 0], [0, 4, 0]] * 3, 50, axis=0)).astype(np.float32)
    np.savez(tmp_path / "latents.npz", mu=Z, track_ids=ids)
    tracks = pd.DataFrame({"track_id": [f"t{i}" for i in range(6)], "g": ["a", "b"] * 3})
    index = pd.DataFrame({"model": ["conv_vae"], "seed": [0], "run_dir": [str(tmp_path)]})
    full = compare.window_level(index, tracks, ["g"], n_perm=5)
    capped = compare.window_level(index, tracks, ["g"], n_perm=5, max_windows=60)
    assert full["n_items"].iloc[0] == 300 and capped["n_items"].iloc[0] == 60  # 10 windows of each of 6 songs
    assert capped["ami"].iloc[0] > 0.8
    again = compare.window_level(index, tracks, ["g"], n_perm=5, max_windows=60)
    pd.testing.assert_frame_equal(capped, again)  # the draw is seeded


@pytest.mark.parametrize("view", ["hybrid", "multimodal", "lyrics"])
def test_a_run_is_split_once_and_the_loop_gets_that_split(view):
    tracks, blocks = planted_blocks()
    spec = runs.RunSpec("m", "mlp_vae", {}, runs.train_config({"epochs": 1, "val_fraction": 0.25}, 3, 1.0), view,
                        "unused", blocks=blocks)
    X, ids, train_mask, _ = runs.view_inputs(spec)
    assert np.array_equal(train_mask, split_by_song(ids, 0.25, 3)[0])  # what the run id stands for


def test_a_run_refuses_a_split_its_id_does_not_stand_for(tmp_path):
    tracks, blocks = planted_blocks()
    X = np.asarray(blocks.audio, np.float32)
    other = split_by_song(blocks.track_ids, 0.2, seed=7)[0]
    cfg = loop.TrainConfig.tiny(epochs=1, seed=0)
    with pytest.raises(ValueError, match="train_mask is not the split"):
        store.run("mlp_vae", {"input_dim": X.shape[1], "latent_dim": 2, "hidden": [4]}, X, blocks.track_ids, cfg,
                  tmp_path, train_mask=other)


def test_the_convvae_is_judged_against_the_pooled_descriptors():
    rows = [("conv_vae", "model", 0.15, 0.01), ("audio_descriptors", "baseline", 0.21, 0.005),
            ("audio_raw", "baseline", 0.52, 0.002)]
    s = pd.DataFrame([{"rep": r, "family": f, "method": "kmeans", "label_column": "genre", "ami_mean": m, "ami_std": sd}
                      for r, f, m, sd in rows])
    (line,) = verdicts.conv_vs_descriptors(s, "songs with audio")
    assert "the ConvVAE (AMI 0.150 ± 0.010) **loses to** the pooled descriptors (AMI 0.210 ± 0.005)" in line
    assert "gap -0.060 against a noise level of 0.010 (the larger seed std 0.010, permutation width 0.000)" in line
    assert verdicts.conv_vs_descriptors(s[s["rep"] != "conv_vae"], "songs with audio") == []


def test_side_tables_leave_out_labels_of_many_classes():
    ids = [f"t{i:03d}" for i in range(120)]
    tracks = pd.DataFrame({"track_id": ids, "genre": np.repeat(["a", "b", "c"], 40),
                           "album": [f"al{i // 2}" for i in range(120)]})  # 60 albums of 2 songs
    kept, many = compare.few_class_columns(tracks, ["genre", "album"], ids)
    assert (kept, many) == (["genre"], ["album"])
    assert compare.few_class_columns(tracks, ["genre", "album"], ids[:80])[0] == ["genre", "album"]  # 40 albums there
