"""musicnn in torch: checkpoint reading, front end, and parity with the original TensorFlow graph.

REFERENCE holds what the original musicnn graph (TensorFlow, musicnn==0.1.0) gives on the float32
log-mel patches of three synthetic clips; tools/musicnn_reference.py produced it (it documents the
scratch TensorFlow venv) and defines the clips, regenerated here with numpy alone.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from songspace.features import musicnn, musicnn_net, tfbundle
from songspace.features.audio import AudioParams

pytestmark = pytest.mark.skipif(importlib.util.find_spec("musicnn") is None,
                                reason="musicnn not installed (pip install --no-deps musicnn==0.1.0)")

ROOT = Path(__file__).resolve().parents[2]
# Tolerance on the mean over patches of the tags (probabilities) and of penultimate values. Torch and
# TF differ only in float32 summation order: 2e-6 on tags and 1e-5 on penultimate at most over every
# patch when the references were made; the stored values are rounded to 4 decimals (5e-5). 1e-3 keeps
# a 20x margin over the rounding while a wrong layer, padding, BN epsilon or flatten order moves
# these values by 1e-2 or more, and the clips themselves differ by ~1e-1.
ATOL = 1e-3
P = AudioParams(n_mfcc=8, n_mels=16, patch_frames=32)  # small descriptors for the backend tests


def _reference_tool():
    spec = importlib.util.spec_from_file_location("musicnn_reference", ROOT / "tools" / "musicnn_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def clips():
    return _reference_tool().parity_clips()


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


REFERENCE = {
    "MSD_musicnn": {
        "clip0": dict(
            tags=[0.0161, 0.0072, 0.0294, 0.0913, 0.6293, 0.0069, 0.0508, 0.0184, 0.0041, 0.0038, 0.0058, 0.001, 0.0216,
                  0.001, 0.0003, 0.0006, 0.0225, 0.0025, 0.1591, 0.0029, 0.0012, 0.0017, 0.0081, 0.0272, 0.003, 0.0001,
                  0.0003, 0.0003, 0.0195, 0.002, 0.0576, 0.0007, 0.0013, 0.004, 0.0004, 0.0103, 0.0, 0.0006, 0.0027,
                  0.0027, 0.0073, 0.4258, 0.0001, 0.0017, 0.0002, 0.0002, 0.0121, 0.0007, 0.0596, 0.0024],
            pen=[-0.1772, 0.6057, 0.7782, -0.2499, 1.7994, 2.2114, -0.1574, 0.0809, -0.7559, -0.4759]),
        "clip1": dict(
            tags=[0.0321, 0.0043, 0.0199, 0.0104, 0.2259, 0.0188, 0.0495, 0.0124, 0.0067, 0.004, 0.0025, 0.17, 0.0028,
                  0.0012, 0.0029, 0.0006, 0.0043, 0.0007, 0.0437, 0.0039, 0.0011, 0.006, 0.0016, 0.0103, 0.0076, 0.0005,
                  0.0021, 0.0165, 0.0123, 0.0003, 0.1989, 0.0026, 0.0016, 0.0135, 0.0005, 0.0092, 0.0, 0.0002, 0.0027,
                  0.0017, 0.0024, 0.0617, 0.0296, 0.0056, 0.0005, 0.0007, 0.0004, 0.0004, 0.0135, 0.0004],
            pen=[-0.1772, 0.4714, -0.1359, -0.2499, 2.4656, 1.2403, -0.1574, 0.1237, -0.7559, 1.4788]),
        "clip2": dict(
            tags=[0.082, 0.039, 0.1254, 0.3819, 0.2132, 0.0563, 0.0054, 0.0282, 0.0251, 0.0057, 0.0684, 0.0034, 0.057,
                  0.0055, 0.0006, 0.0026, 0.1027, 0.0445, 0.0535, 0.0008, 0.0649, 0.0014, 0.0251, 0.0981, 0.0061, 0.0002,
                  0.0012, 0.0007, 0.1356, 0.0355, 0.0973, 0.0057, 0.0042, 0.0041, 0.0004, 0.001, 0.0045, 0.0049, 0.0031,
                  0.002, 0.0016, 0.0239, 0.0002, 0.0087, 0.0002, 0.0008, 0.0788, 0.0191, 0.0037, 0.0031],
            pen=[-0.1772, -0.2119, 0.9817, 0.3344, -0.1704, -0.2456, -0.1574, 1.6712, -0.693, -0.5354]),
    },
    "MTT_musicnn": {
        "clip0": dict(
            tags=[0.0424, 0.0006, 0.0039, 0.5, 0.0015, 0.5012, 0.2211, 0.1056, 0.4442, 0.0054, 0.0028, 0.5134, 0.0,
                  0.0006, 0.096, 0.0003, 0.008, 0.0, 0.0008, 0.0004, 0.0009, 0.0925, 0.0003, 0.0399, 0.0025, 0.0,
                  0.0001, 0.0012, 0.0683, 0.0119, 0.001, 0.0024, 0.0048, 0.0004, 0.0001, 0.0, 0.0006, 0.0025, 0.091,
                  0.0011, 0.0001, 0.2529, 0.0003, 0.0, 0.055, 0.0092, 0.0005, 0.005, 0.0001, 0.0],
            pen=[-0.08, 1.4561, 0.8666, 0.0075, -0.3015, -0.1216, -0.1451, -0.1621, 0.9494, 0.5067]),
        "clip1": dict(
            tags=[0.0033, 0.0, 0.0005, 0.2501, 0.0, 0.0303, 0.1294, 0.0568, 0.1271, 0.0, 0.0015, 0.0417, 0.0,
                  0.0083, 0.0242, 0.0027, 0.0001, 0.0002, 0.0073, 0.0027, 0.0133, 0.0187, 0.0, 0.0239, 0.0006, 0.0001,
                  0.0016, 0.0045, 0.0214, 0.0016, 0.0002, 0.0, 0.0001, 0.0014, 0.0, 0.0, 0.0073, 0.0003, 0.009,
                  0.0035, 0.0004, 0.0093, 0.0, 0.0, 0.0107, 0.0406, 0.0001, 0.0111, 0.0006, 0.0],
            pen=[1.538, -0.0517, 4.5122, 0.0075, 1.6961, -0.1216, -0.3663, 1.0492, -0.1308, 0.6556]),
        "clip2": dict(
            tags=[0.0498, 0.0418, 0.3017, 0.1064, 0.0217, 0.0107, 0.2174, 0.009, 0.0182, 0.0492, 0.2418, 0.026, 0.0029,
                  0.0082, 0.2764, 0.0043, 0.0008, 0.0004, 0.0061, 0.0048, 0.0078, 0.081, 0.0001, 0.0718, 0.011, 0.0021,
                  0.0019, 0.0052, 0.0619, 0.0121, 0.0383, 0.0006, 0.0219, 0.0034, 0.0031, 0.0016, 0.0032, 0.104, 0.0034,
                  0.005, 0.0023, 0.0054, 0.0052, 0.0006, 0.033, 0.0444, 0.0038, 0.0002, 0.0019, 0.001],
            pen=[-0.08, 0.2228, -0.0584, 0.0094, -0.3015, 0.0674, -0.3663, 0.9164, -0.1308, -0.5379]),
    },
}


def test_tag_names_are_the_packages():
    from musicnn import configuration  # plain lists, no TensorFlow import

    assert musicnn.TAGS_MSD == configuration.MSD_LABELS
    assert musicnn.TAGS_MTT == configuration.MTT_LABELS
    assert len(musicnn.TAGS_MSD) == len(musicnn.TAGS_MTT) == 50


@pytest.mark.parametrize("model", musicnn.MODELS)
def test_parity_with_tensorflow(model, clips):
    m = musicnn.load(model)
    pen_dims = _reference_tool().PEN_DIMS
    for i, y in enumerate(clips):
        out = m.embed(y)
        ref = REFERENCE[model][f"clip{i}"]
        assert out["tags"].shape == (3, 50) and out["penultimate"].shape == (3, 200)
        np.testing.assert_allclose(out["tags"].mean(axis=0), ref["tags"], rtol=0, atol=ATOL,
                                   err_msg=f"{model} clip{i} tags")
        np.testing.assert_allclose(out["penultimate"].mean(axis=0)[pen_dims], ref["pen"], rtol=0, atol=ATOL,
                                   err_msg=f"{model} clip{i} penultimate")


def test_clips_get_different_tags(clips):
    """musicnn's float16 front end overflows and gives near-identical tags to every clip: not this one."""
    m = musicnn.load("MSD_musicnn")
    means = np.array([m.embed(y)["tags"].mean(axis=0) for y in clips])
    for a in range(3):
        for b in range(a + 1, 3):
            assert np.abs(means[a] - means[b]).max() > 0.1, (a, b)


def test_front_end_float32_where_float16_overflows():
    rng = np.random.default_rng(1)
    t = np.arange(3 * musicnn.SR) / musicnn.SR
    y = np.clip(0.9 * np.sign(np.sin(2 * np.pi * 110 * t)) + 0.1 * rng.standard_normal(len(t)), -1, 1)
    X = musicnn.logmel(y.astype(np.float32))
    assert X.dtype == np.float32 and X.shape == (1 + len(y) // musicnn.HOP, musicnn.N_MELS)
    assert np.isfinite(X).all()
    mel = (10.0 ** X.astype(np.float64) - 1) / 10000  # back to mel power
    with np.errstate(over="ignore"):
        assert np.isinf(10000 * mel.astype(np.float16)).any()  # musicnn's own float16 path would give inf here
    out = musicnn.load("MSD_musicnn").embed(y.astype(np.float32))
    assert np.isfinite(out["penultimate"]).all() and np.isfinite(out["tags"]).all()


def test_logmel_matches_librosa_melspectrogram():
    import librosa

    y = np.random.default_rng(2).standard_normal(musicnn.SR * 2).astype(np.float32) * 0.3
    mel = librosa.feature.melspectrogram(y=y, sr=musicnn.SR, n_fft=musicnn.N_FFT, hop_length=musicnn.HOP,
                                         n_mels=musicnn.N_MELS)
    np.testing.assert_allclose(musicnn.logmel(y), np.log10(10000 * mel.T + 1), rtol=0, atol=1e-4)


def test_patches_shapes_and_short_input():
    m = musicnn.load("MSD_musicnn")
    y = np.random.default_rng(3).standard_normal(musicnn.SR * 10).astype(np.float32) * 0.1
    out = m.embed(y)
    step = musicnn.PATCH_HOP * musicnn.HOP / musicnn.SR
    np.testing.assert_allclose(out["patch_starts_s"], [0, step, 2 * step])  # 626 frames: 3 full patches
    assert out["penultimate"].dtype == out["tags"].dtype == np.float32
    assert ((out["tags"] >= 0) & (out["tags"] <= 1)).all()
    short = m.embed(y[: musicnn.SR])  # 1 s: repeat-padded into one patch
    assert short["tags"].shape == (1, 50) and short["patch_starts_s"].tolist() == [0.0]
    batched = m.forward_patches(musicnn.patches(musicnn.logmel(y))[0], batch_size=2)
    np.testing.assert_allclose(batched[1], out["tags"], atol=1e-6)


def test_max_patches_keeps_evenly_spaced_patches_of_the_same_grid():
    grid = musicnn.patch_starts(musicnn.PATCH_FRAMES * 10)  # 10 patches
    assert len(grid) == 10 and np.array_equal(musicnn.patch_starts(musicnn.PATCH_FRAMES * 10, 10), grid)
    assert np.array_equal(musicnn.patch_starts(musicnn.PATCH_FRAMES * 10, 4), grid[[1, 3, 6, 8]])
    assert np.array_equal(musicnn.patch_starts(musicnn.PATCH_FRAMES * 10, 1), grid[[5]])
    assert np.array_equal(musicnn.patch_starts(musicnn.PATCH_FRAMES * 3, 20), grid[:3])  # fewer: all
    with pytest.raises(ValueError, match="at least 1"):
        musicnn.patch_starts(musicnn.PATCH_FRAMES * 10, 0)
    with pytest.raises(ValueError, match="musicnn_max_patches"):  # a bad profile override fails before any file
        AudioParams(musicnn_max_patches=0)
    m = musicnn.load("MSD_musicnn")
    y = np.random.default_rng(4).standard_normal(musicnn.SR * 15).astype(np.float32) * 0.1  # 5 patches
    every, some = m.embed(y), m.embed(y, max_patches=2)
    assert len(every["tags"]) == 5 and len(some["tags"]) == 2
    keep = np.searchsorted(every["patch_starts_s"], some["patch_starts_s"])
    assert keep.tolist() == [1, 3]  # the same patches, not re-cut ones
    np.testing.assert_allclose(some["penultimate"], every["penultimate"][keep], atol=1e-6)


def test_checkpoint_holds_what_the_architecture_needs():
    prefix = musicnn_net.checkpoint_prefix("MSD_musicnn")
    entries = tfbundle.read_index(prefix + ".index")
    want = musicnn_net.expected_shapes()
    assert all(entries[k].shape == s for k, s in want.items())
    assert any("Adam" in k for k in entries) and not any("Adam" in k for k in want)  # optimizer slots skipped


def _copy_checkpoint(tmp_path) -> str:
    src = Path(musicnn_net.checkpoint_prefix("MSD_musicnn"))
    dst = tmp_path / "MSD_musicnn"
    dst.mkdir()
    for name in (".index", ".data-00000-of-00001"):
        shutil.copy(src / name, dst / name)
    return str(dst) + "/"


def test_missing_variable_names_the_checkpoint(tmp_path):
    prefix = _copy_checkpoint(tmp_path)
    index = Path(prefix + ".index")
    data = index.read_bytes()
    assert data.count(b"gamma") >= 1
    index.write_bytes(data.replace(b"gamma", b"gammX", 1))  # renames the first BN's gamma
    with pytest.raises(tfbundle.CheckpointError, match=r"missing musicnn variable.*batch_normalization/gamma") as e:
        musicnn.MusicnnModel("MSD_musicnn", prefix=prefix)
    assert str(index) in str(e.value)


def test_corrupt_checkpoint_files(tmp_path, monkeypatch):
    prefix = _copy_checkpoint(tmp_path)
    data_file = Path(prefix + ".data-00000-of-00001")
    data_file.write_bytes(data_file.read_bytes()[:1000])  # truncated shard
    with pytest.raises(tfbundle.CheckpointError, match="bytes were read"):
        musicnn.MusicnnModel("MSD_musicnn", prefix=prefix)
    index = Path(prefix + ".index")
    index.write_bytes(index.read_bytes()[:-8] + b"\0" * 8)  # no magic number
    with pytest.raises(tfbundle.CheckpointError, match="not a TensorBundle index"):
        musicnn.MusicnnModel("MSD_musicnn", prefix=prefix)
    with pytest.raises(tfbundle.CheckpointError, match="checkpoint file missing"):
        musicnn.MusicnnModel("MSD_musicnn", prefix=str(tmp_path / "nowhere") + "/")
    want = musicnn_net.expected_shapes()
    monkeypatch.setattr(musicnn_net, "expected_shapes",
                        lambda n_classes=50: {**want, "dense/kernel": (1506, 201)})
    with pytest.raises(tfbundle.CheckpointError, match=r"wrong shape.*dense/kernel"):
        musicnn_net.read_weights(musicnn_net.checkpoint_prefix("MSD_musicnn"))


# ---------------------------------------------------------------- as an extract_audio backend

def _wavs(d, specs, sr=22050):
    """specs: (track_id, seconds, f0); harmonic tone + noise, so every track gets different tags."""
    import soundfile as sf

    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (tid, seconds, f0) in enumerate(specs):
        t = np.arange(int(seconds * sr)) / sr
        y = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * 0.2
        y += 0.05 * np.random.default_rng(i).standard_normal(len(t)) * (1 + np.sin(2 * np.pi * 2 * t))
        sf.write(d / f"{tid}.wav", y.astype(np.float32), sr)
        rows.append(dict(track_id=tid, audio_path=str(d / f"{tid}.wav"), has_audio=True))
    return pd.DataFrame(rows)


@pytest.fixture
def tracks(tmp_path):
    t = _wavs(tmp_path / "audio", [("a", 4.0, 110), ("b", 6.5, 440), ("c", 5.0, 1760)])
    broken = dict(track_id="x", audio_path=str(tmp_path / "audio" / "gone.wav"), has_audio=True)
    return pd.concat([t.iloc[:2], pd.DataFrame([broken]), t.iloc[2:]], ignore_index=True)


def test_backend_outputs_align_with_tracks(tracks, tmp_path):
    from songspace.features import audio
    from songspace.features.extract import extract_audio
    from songspace.features.per_track import _to_16k
    from songspace.features.saved import load_audio_features, load_backend

    out = tmp_path / "out"
    st = extract_audio(tracks, P, out, n_jobs=1, progress=False, audio_backends=("descriptors", "musicnn-msd"))
    assert st["decoded"] == 3 and st["musicnn-msd_computed"] == 3 and st["n_failed"] == 1
    r = load_backend(out, "musicnn-msd")
    # 16 kHz frames 1 + n // 256, whole 187-frame patches: 4 s -> 1, 6.5 s -> 2, 5 s -> 1
    assert r["windows"]["track_id"].tolist() == ["a", "b", "b", "c"] and r["windows"]["patch"].tolist() == [0, 0, 1, 0]
    assert r["X"].shape == (4, 250) and r["X"].dtype == np.float32 and st["musicnn-msd_patches"] == 4
    assert r["tracks"]["track_id"].tolist() == load_audio_features(out)["descriptors_tracks"]["track_id"].tolist()
    assert r["columns"][:2] == ["emb_000", "emb_001"] and r["columns"][200] == "tag_rock"
    assert "tag_female_vocalists" in r["columns"] and "tag_hip_hop" in r["columns"]
    np.testing.assert_allclose(r["tracks"].iloc[1, 1:].to_numpy(float), r["X"][1:3].mean(axis=0), rtol=1e-6)
    fails = pd.read_csv(out / "audio_failures.csv")
    assert fails["track_id"].tolist() == ["x"] and fails["problem"].tolist() == ["missing_file"]
    # the rows are musicnn on the decoded signal resampled to 16 kHz (decoded once, at P.sr)
    y16 = _to_16k(audio.decode(tracks["audio_path"][1], P.sr), P.sr)
    e = musicnn.load("MSD_musicnn").embed(y16)
    np.testing.assert_allclose(r["X"][1:3, :200], e["penultimate"], atol=1e-5)
    np.testing.assert_allclose(r["X"][1:3, 200:], e["tags"], atol=1e-6)
    np.testing.assert_allclose(r["windows"]["start_s"][1:3], e["patch_starts_s"])
    assert np.abs(r["X"][0, 200:] - r["X"][3, 200:]).max() > 0.05  # different sounds, different tags


def test_backend_cache_and_decode_once(tracks, tmp_path, monkeypatch):
    from songspace.features import audio
    from songspace.features.extract import extract_audio
    from songspace.features.saved import load_backend

    out, cache = tmp_path / "out", tmp_path / "cache"
    calls = []
    decode = audio.decode_checked  # what a worker decodes a track with (the signal and its notes)
    monkeypatch.setattr(audio, "decode_checked", lambda path, sr, *a, **k: calls.append(sr) or decode(path, sr, *a, **k))
    first = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False,
                          audio_backends=("musicnn-msd", "musicnn-mtt"))
    assert first["decoded"] == 3 and calls == [P.sr] * 3  # one decode per track for both models
    assert not (out / "windows.parquet").exists()  # descriptors not asked for
    X = np.array(load_backend(out, "musicnn-mtt")["X"])
    calls.clear()
    again = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False,
                          audio_backends=("musicnn-msd", "musicnn-mtt"))
    assert again["decoded"] == 0 and again["musicnn-mtt_cached"] == 3 and calls == []
    np.testing.assert_array_equal(load_backend(out, "musicnn-mtt")["X"], X)
    both = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False,
                         audio_backends=("descriptors", "musicnn-mtt"))
    assert both["decoded"] == 3 and both["musicnn-mtt_cached"] == 3 and both["desc_computed"] == 3
    capped = AudioParams(**{**P.as_dict(), "musicnn_max_patches": 1})  # b has 2 patches: keeps one
    fewer = extract_audio(tracks, capped, out, n_jobs=1, cache_dir=cache, progress=False,
                          audio_backends=("musicnn-mtt",))
    assert fewer["musicnn-mtt_computed"] == 3 and fewer["musicnn-mtt_patches"] == 3  # not served from the cache
    assert load_backend(out, "musicnn-mtt")["windows"]["track_id"].tolist() == ["a", "b", "c"]
    from songspace.features import per_track

    real = per_track.library_versions  # another torch: the embeddings are computed again, not reused
    monkeypatch.setattr(per_track, "library_versions", lambda *names: {**real(*names), "torch": "99.0"})
    upgraded = extract_audio(tracks, capped, out, n_jobs=1, cache_dir=cache, progress=False,
                             audio_backends=("musicnn-mtt",))
    assert upgraded["musicnn-mtt_computed"] == 3 and upgraded["musicnn-mtt_cached"] == 0


def test_unknown_backend(tracks, tmp_path):
    from songspace.features.extract import extract_audio
    from songspace.features.saved import load_backend

    with pytest.raises(ValueError, match="unknown audio backend"):
        extract_audio(tracks, P, tmp_path, n_jobs=1, progress=False, audio_backends=("openl3",))
    with pytest.raises(FileNotFoundError, match="audio_musicnn-msd_tracks.parquet"):
        load_backend(tmp_path, "musicnn-msd")


def test_fft_tiled_timbral_convs_match_plain_convolutions():
    """The timbral convs run as FFT tiles (tile_transforms); the plain convolution is the reference."""
    B, G, A = musicnn_net.tile_transforms()
    x, w = np.random.default_rng(4).standard_normal((2, 16)), np.random.default_rng(5).standard_normal(7)
    np.testing.assert_allclose(A @ ((G @ w) * (B @ x[0])), np.correlate(x[0], w, mode="valid"), atol=1e-12)
    weights = musicnn_net.read_weights(musicnn_net.checkpoint_prefix("MSD_musicnn"))
    fast, plain = musicnn_net.MusicnnNet(weights), musicnn_net.MusicnnNet(weights, fast_timbral=False)
    X = torch.from_numpy(np.random.default_rng(6).uniform(0, 4, (2, 200, 96)).astype(np.float32))  # any length
    with torch.no_grad():
        np.testing.assert_allclose(fast.frontend(X), plain.frontend(X), atol=1e-4)
        np.testing.assert_allclose(fast(X)[1], plain(X)[1], atol=1e-5)
