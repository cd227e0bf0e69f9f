"""The musicnn-transfer ConvVAE's inputs and runs: patches aligned to musicnn's 3-s patches, the split by
song, statistics of training songs only, and a run id keyed by the frozen features' content."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from songspace.features import saved
from songspace.training import inputs, runs
from songspace.training.split import split_by_song


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    from planted import tone_tracks
    from songspace.features.audio import AudioParams
    from songspace.features.extract import extract_audio

    tmp = tmp_path_factory.mktemp("transfer")
    rows = tone_tracks(tmp, seconds=7.0, step_hz=80)
    p = AudioParams(sr=16000, window_s=1.0, hop_s=0.5, n_mels=8, patch_frames=8, n_mfcc=6)
    extract_audio(pd.DataFrame(rows), p, tmp / "proc", n_jobs=1, progress=False,
                  audio_backends=("descriptors", "musicnn-msd"))
    return tmp / "proc"


def test_rows_are_musicnn_patches_with_the_log_mel_window_nearest_their_centre(processed):
    out = inputs.transfer_inputs(processed, "musicnn-msd", seed=1)
    emb = saved.load_backend(processed, "musicnn-msd")
    win = pd.read_parquet(processed / "windows.parquet")
    n = len(emb["windows"])
    assert out["X"]["features"].shape == (n, 200) and out["X"]["logmel"].shape == (n, 1, 8, 8)
    assert inputs.transfer_inputs(processed, "musicnn-msd", with_tags=True)["X"]["features"].shape == (n, 250)
    assert np.array_equal(out["track_ids"], emb["windows"]["track_id"].astype(str).to_numpy())
    assert np.array_equal(win["track_id"].to_numpy()[out["windows"]], out["track_ids"])  # same song
    centre = emb["windows"]["start_s"].to_numpy() + 1.496
    off = np.abs(win["start_s"].to_numpy()[out["windows"]] + 8 * 512 / 16000 / 2 - centre)
    assert off.max() <= 0.25 + 1e-6  # half a hop
    # scaled as the window-level VAE scales this backend, with this split
    assert np.allclose(out["X"]["features"], inputs.window_inputs(processed, "musicnn-msd", 0.2, 1)["X"])
    assert np.array_equal(out["train_mask"], split_by_song(out["track_ids"], 0.2, 1)[0])
    # the patch standardisation uses the training songs' windows only
    f = saved.load_audio_features(processed)
    train_songs = np.unique(out["track_ids"][out["train_mask"]])
    mean, std = saved.logmel_stats(f["logmel"], win["track_id"].isin(train_songs).to_numpy())
    want = saved.normalise(f["logmel"][out["windows"][:3]], mean, std)[:, None]
    assert np.allclose(out["X"]["logmel"][np.arange(3)], want)


def test_a_transfer_run_trains_records_its_encoder_and_is_keyed_by_the_features(processed, tmp_path):
    cfg = {"encoder": "musicnn-msd", "hidden": [], "n_layers": 2, "first_channels": 4, "hidden_channels": 4,
           "latent_dim": 2}
    kw = {"epochs": 2, "batch_size": 8, "lr": 1e-3, "warmup_epochs": 1, "patience": 4}
    index = runs.train_conv(processed, cfg, kw, [0], tmp_path / "runs", threads=1)
    run_dir = Path(index["run_dir"].iloc[0])
    conf = json.loads((run_dir / "config.json").read_text())
    assert conf["model_config"]["encoder"] == "musicnn-msd" and conf["model_config"]["input_dim"] == 200
    z = np.load(run_dir / "latents.npz")
    assert z["mu"].shape == (len(saved.load_backend(processed, "musicnn-msd")["windows"]), 2)
    rec = np.load(run_dir / "reconstructions.npz")
    assert rec["x_in"].shape[1:] == (1, 8, 8) and rec["x_out"].shape == rec["x_in"].shape
    assert runs.train_conv(processed, cfg, kw, [0], tmp_path / "runs", threads=1)["cached"].all()
    # other frozen features (a re-extraction with other weights) make another run, not the cached one
    path = saved.backend_path(processed, "musicnn-msd", "windows.npy")
    original = np.load(path)
    try:
        np.save(path, original + np.float32(0.5))
        other = runs.train_conv(processed, cfg, kw, [0], tmp_path / "runs", threads=1)
        assert not other["cached"].any() and other["run_dir"].iloc[0] != str(run_dir)
    finally:
        np.save(path, original)


def test_a_transfer_run_without_the_backend_names_the_missing_file(tmp_path, processed):
    import shutil

    proc = tmp_path / "proc"
    shutil.copytree(processed, proc)
    saved.backend_path(proc, "musicnn-msd", "windows.npy").unlink()
    with pytest.raises(FileNotFoundError, match="audio_musicnn-msd_windows.npy"):
        inputs.transfer_inputs(proc, "musicnn-msd")


def test_the_seed_conv_encoder_trains_without_neighbour_consistency(tmp_path, caplog):
    from songspace.training import runs
    kw = {"epochs": 1, "neighbour_weight": 10.0, "neighbours": 3}
    with caplog.at_level("INFO"):
        seed_enc = runs.conv_runs(tmp_path, {"encoder": "conv"}, kw, [0], tmp_path / "runs")
    assert seed_enc[0].train.neighbour_weight == 0.0 and "without neighbour consistency" in caplog.text
    transfer = runs.conv_runs(tmp_path, {"encoder": "musicnn-msd"}, kw, [0], tmp_path / "runs")
    assert transfer[0].train.neighbour_weight == 10.0 and transfer[0].train.neighbours == 3
