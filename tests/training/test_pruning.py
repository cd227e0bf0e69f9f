"""The sweep's screen: Optuna's successive halving stops configurations whose validation ELBO lags, and a
resumed screen replays its record to the same decisions without training."""

import numpy as np
import pandas as pd
import pytest
from songspace.training import inputs, pruning, runs


def _blocks(n=40, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.arange(n) % 4
    audio = rng.normal(size=(n, 12)) + 4 * np.eye(4)[groups].repeat(3, 1)
    ids = np.array([f"t{i:02d}" for i in range(n)])
    tracks = pd.DataFrame({"track_id": ids, "genre": groups.astype(str), "has_audio": True, "has_lyrics": False})
    blocks = inputs.Blocks(ids, audio.astype(np.float32), np.zeros((n, 0), np.float32), np.ones(n, bool),
                           np.zeros(n, bool), [f"a{i}" for i in range(12)], None)
    return tracks, blocks


def _first_runs(tmp_path, lrs):
    tracks, blocks = _blocks()
    out = {}
    for lr in lrs:
        train = {"epochs": 12, "batch_size": 8, "lr": lr, "warmup_epochs": 0, "patience": 12}
        spec = {f"lr{lr}": {"kind": "mlp_vae", "input": "hybrid", "beta": 1.0}}
        out[f"h{lr}"] = runs.family_runs(blocks, tracks, 2, train, [0], tmp_path, specs=spec, hidden=(16,))[0]
    return out


def test_the_screen_stops_configurations_that_learn_nothing(tmp_path):
    # lr 1e-7 barely moves from its initial ELBO; the others learn. Grid order: good ones first
    first = _first_runs(tmp_path / "runs", [3e-3, 1e-3, 1e-7, 2e-7])
    out = pruning.screen(first, tmp_path / "screen.json", pruning.Pruning(min_epochs=2, reduction_factor=2))
    assert not out["h0.003"]["pruned"] and out["h0.003"]["epochs"] == 12
    assert out["h1e-07"]["pruned"] and out["h2e-07"]["pruned"]
    assert out["h1e-07"]["epochs"] < 12 and out["h1e-07"]["neg_elbo"] > out["h0.003"]["neg_elbo"]


def test_a_resumed_screen_replays_without_training(tmp_path, monkeypatch):
    first = _first_runs(tmp_path / "runs", [3e-3, 1e-7])
    settings = pruning.Pruning(min_epochs=2, reduction_factor=2)
    before = pruning.screen(first, tmp_path / "screen.json", settings)

    def no_training(*a, **k):
        raise AssertionError("a screened configuration was trained again")

    monkeypatch.setattr(pruning, "train_run", no_training)
    assert pruning.screen(first, tmp_path / "screen.json", settings) == before


def test_a_finished_run_is_screened_from_its_history(tmp_path):
    first = _first_runs(tmp_path / "runs", [3e-3])
    row = runs.train_run(first["h0.003"])  # trained before the screen (as 02 trains a run a sweep point repeats)
    out = pruning.screen(first, tmp_path / "screen.json", pruning.Pruning(min_epochs=2, reduction_factor=2))
    history = pd.read_csv(f"{row['run_dir']}/history.csv")
    last = history["val_recon"].iloc[-1] + history["val_kl"].iloc[-1]
    assert out["h0.003"] == {"pruned": False, "epochs": len(history), "neg_elbo": pytest.approx(last)}


def test_a_screen_under_other_rungs_is_not_replayed(tmp_path, monkeypatch):
    first = _first_runs(tmp_path / "runs", [3e-3, 1e-7])
    pruning.screen(first, tmp_path / "screen.json", pruning.Pruning(min_epochs=2, reduction_factor=2))
    trained = []
    real = pruning.train_run

    def counting(spec, **kw):
        trained.append(spec.model)
        return real(spec, **kw)

    monkeypatch.setattr(pruning, "train_run", counting)
    pruning.screen(first, tmp_path / "screen.json", pruning.Pruning(min_epochs=4, reduction_factor=3))
    assert len(trained) == 2  # both screened afresh: the saved values were judged on other rungs
