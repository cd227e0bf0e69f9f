"""Training budgets: a small collection trains as configured, a large one is thinned by windows per song,
then epochs; a sweep loses seeds first, then its last ConvVAE configurations; the sampler draws per song."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from songspace import config
from songspace.report import summary
from songspace.training import batches, budget, loop, runs, store
from songspace.training.budget import Budget

KW = {"epochs": 30, "batch_size": 64, "lr": 1e-3, "warmup_epochs": 3, "patience": 5}
B = Budget(run_samples=40_000, sweep_samples=400_000)


def test_small_collection_trains_as_configured():
    kw, note = budget.window_training(KW, n_windows=1100, n_songs=10, budget=B)
    assert kw == KW and note is None


def test_large_collection_thins_windows_then_epochs():
    kw, note = budget.window_training(KW, n_windows=119_000, n_songs=1000, budget=B)
    assert kw["epochs"] == 30 and kw["windows_per_song"] == 1 and "1 random window" in note
    assert budget.run_cost(kw, 119_000, 1000) <= B.run_samples
    kw, _ = budget.window_training({**KW, "epochs": 10}, n_windows=119_000, n_songs=1000, budget=B)
    assert kw["windows_per_song"] == 5 and budget.run_cost(kw, 119_000, 1000) <= B.run_samples
    kw, note = budget.window_training(KW, n_windows=1_300_000, n_songs=10_000, budget=B)  # 1 per song is too much
    assert kw["windows_per_song"] == 1 and kw["epochs"] == 5 and kw["warmup_epochs"] == 1 and "5 epochs" in note
    assert kw["patience"] == 1
    kw, _ = budget.window_training({**KW, "epochs": 3}, n_windows=54, n_songs=18, budget=Budget(run_samples=30))
    assert kw["epochs"] == 3 and kw["windows_per_song"] == 1  # never more epochs than configured


def test_sweep_cuts_seeds_first_then_the_last_configurations():
    assert budget.sweep_plan([20_000.0] * 3, 5, B) == (5, 3, [])  # 300k fits
    assert budget.sweep_plan([50_000.0] * 3, 5, B) == (2, 3, ["seeds 5 -> 2 (budget 400,000 samples)"])
    seeds, n_cfg, cuts = budget.sweep_plan([40_000.0] * 7, 5, B)
    assert (seeds, n_cfg) == (2, 5) and cuts[0] == "seeds 5 -> 2" and "ConvVAE configurations 7 -> 5" in cuts[1]
    assert budget.sweep_plan([900_000.0], 5, B)[:2] == (2, 1)  # never less than min_seeds and one configuration


def test_per_song_sampler_draws_at_most_k_per_song_afresh_each_epoch():
    ids = np.repeat(np.array(["a", "b", "c"]), [10, 3, 7])
    sampler = batches.PerSongSampler(ids, 4, seed=0)
    epochs = [list(sampler) for _ in range(3)]
    assert len(sampler) == 4 + 3 + 4
    for pos in epochs:
        counts = pd.Series(ids[pos]).value_counts()
        assert len(pos) == len(set(pos)) == 11 and counts.to_dict() == {"a": 4, "c": 4, "b": 3}
    assert epochs[0] != epochs[1]  # a fresh draw
    again = batches.PerSongSampler(ids, 4, seed=0)
    assert [list(again) for _ in range(3)] == epochs  # seeded
    X = np.arange(20, dtype=np.float32)[:, None]
    rows = np.arange(20)
    tr = batches.make_loader(X, rows, None, 5, True, 0, 0, ids, 2)
    assert sum(len(x) for x, _ in tr) == 6  # two windows of each of the three songs per epoch
    va = batches.make_loader(X, rows, None, 5, False, 0, 0, ids, 2)
    first, second = [np.concatenate([x.numpy().ravel() for x, _ in va]) for _ in range(2)]
    assert len(first) == 6 and np.array_equal(first, second)  # validation: one fixed draw


def test_fit_with_windows_per_song_sees_fewer_rows_and_is_reproducible(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.repeat([f"s{i}" for i in range(10)], 20)
    X = (rng.normal(size=(200, 6)) + np.repeat(rng.normal(size=(10, 6)) * 3, 20, axis=0)).astype(np.float32)
    cfg = loop.TrainConfig.tiny(epochs=3, windows_per_song=2)
    seen = []

    def count(epoch, logs, model):
        seen.append(logs)

    from songspace.models.registry import build_model
    loop.seed_everything(0)
    res = loop.fit(build_model("mlp_vae", input_dim=6, latent_dim=2, hidden=[8]), X, cfg, ids, callbacks=[count])
    assert res.latents.shape == (200, 2)  # every window is embedded, only training is thinned
    assert len(seen) == 3
    loop.seed_everything(0)
    again = loop.fit(build_model("mlp_vae", input_dim=6, latent_dim=2, hidden=[8]), X, cfg, ids)
    np.testing.assert_array_equal(res.latents, again.latents)
    key = store.run_key("mlp_vae", {}, cfg, "fp")["train"]
    assert key["windows_per_song"] == 2 and "windows_per_song" not in store.run_key(
        "mlp_vae", {}, loop.TrainConfig.tiny(epochs=3), "fp")["train"]  # old run ids unchanged


def test_budget_note_reaches_the_report(tmp_path):
    index = pd.DataFrame({"model": ["conv_vae", "conv_vae", "mlp_vae"],
                          "budget_note": ["each epoch sees 2 random window(s)", "each epoch sees 2 random window(s)", ""]})
    summary.write_sweep_cuts(["seeds 5 -> 2"], tmp_path)
    text = summary.budget_text(index, tmp_path)
    assert text.count("conv_vae: each epoch sees 2") == 1 and "sweep: seeds 5 -> 2" in text and "mlp_vae" not in text
    own = summary.budget_text(index)  # a notebook's own runs: no sweep cuts
    assert own.count("conv_vae: each epoch sees 2") == 1 and "sweep" not in own
    summary.write_sweep_cuts([], tmp_path)
    assert summary.budget_text(index.assign(budget_note=""), tmp_path) == ""


def test_train_conv_queues_extra_runs_and_applies_the_budget(tmp_path):
    import json

    from planted import tone_tracks
    from songspace.features.audio import AudioParams
    from songspace.features.extract import extract_audio

    rows = tone_tracks(tmp_path)
    p = AudioParams(sr=16000, window_s=1.0, hop_s=0.5, n_mels=8, patch_frames=8, n_mfcc=6)
    extract_audio(pd.DataFrame(rows), p, tmp_path / "proc", n_jobs=1, progress=False)
    cfg = {"n_layers": 2, "first_channels": 4, "hidden_channels": 4, "kernel_size": 3, "latent_dim": 2}
    kw = {"epochs": 4, "batch_size": 8, "lr": 1e-3, "warmup_epochs": 1, "patience": 4}
    index = runs.train_conv(tmp_path / "proc", cfg, kw, [0, 1], tmp_path / "runs", threads=1,
                             budget={"run_samples": 40}, extra_runs=[("conv_beta_vae", 4.0, [0])])
    assert index[["model", "seed"]].values.tolist() == [["conv_vae", 0], ["conv_vae", 1], ["conv_beta_vae", 0]]
    assert index["budget_note"].str.contains("random window").all()
    conf = json.loads((Path(index["run_dir"].iloc[2]) / "config.json").read_text())
    assert conf["train_config"]["windows_per_song"] >= 1 and conf["train_config"]["beta"] == 4.0


def test_song_level_runs_lose_epochs_only_over_the_budget():
    kw300 = {"epochs": 300, "batch_size": 32, "lr": 1e-3, "warmup_epochs": 30, "patience": 40}
    kw, note = budget.song_training(kw300, n_songs=79, budget=Budget(song_samples=100_000))
    assert kw == kw300 and note is None  # 300 x 63 training songs fit
    kw, note = budget.song_training(kw300, n_songs=1000, budget=Budget(song_samples=100_000))
    assert kw["epochs"] == 125 and kw["warmup_epochs"] == 12 and kw["patience"] == 17 and "125 epochs" in note
    assert kw["epochs"] * 800 <= 100_000
    kw, _ = budget.song_training(kw300, n_songs=1_000_000, budget=Budget(song_samples=100_000))
    assert kw["epochs"] == 5  # never below min_epochs


def test_train_family_budgets_song_level_runs_by_their_own_rows(tmp_path):
    from test_runs import TRAIN, planted_blocks

    tracks, blocks = planted_blocks()  # 18 songs, all with lyrics
    blocks.mask_lyrics[:6] = False     # 12 with lyrics: the lyrics VAE trains on those rows only
    tight = {"song_samples": 30, "run_samples": 10**6, "min_epochs": 1}
    index = runs.train_family(blocks, tracks, 2, {**TRAIN, "epochs": 4}, [0], tmp_path,
                               specs={k: config.MLP_FAMILY[k] for k in ("mlp_vae", "lyrics_vae")},
                               budget=tight, threads=1)
    epochs = {r.model: json.loads((Path(r.run_dir) / "config.json").read_text())["train_config"]["epochs"]
              for r in index.itertuples()}
    assert epochs == {"mlp_vae": 2, "lyrics_vae": 3}  # 30 // (0.8 x 18) and 30 // (0.8 x 12)
    assert all("budget 30 samples" in note for note in index["budget_note"])


def test_a_sweep_run_that_fails_ahead_of_the_sweep_is_a_row_not_an_exception(tmp_path):
    spec = runs.RunSpec("sweep-x", "conv_vae", {}, runs.train_config({"epochs": 1}, 0, 1.0), "logmel", str(tmp_path),
                        processed_dir=str(tmp_path / "missing"))
    row = runs.train_run(spec, keep_going=True)
    assert row["model"] == "sweep-x" and row["error"]
    with pytest.raises(Exception):
        runs.train_run(spec)
