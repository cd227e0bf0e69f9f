"""Decode, windows and frame-level descriptors on tiny generated WAVs."""
import numpy as np
import pytest
import soundfile as sf
from songspace.features import audio, descriptors
from songspace.features.audio import AudioError, AudioParams


def tone(seconds, sr=22050, f0=440.0, amp=0.3, seed=0):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    pulse = (np.sin(2 * np.pi * 2.0 * t) > 0.9).astype(float)  # 120 bpm clicks
    return (amp * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(len(t)) + 0.3 * pulse * rng.standard_normal(len(t))).astype(np.float32)


def test_decode_mono_resampled(tmp_path):
    y = np.stack([tone(2.0, sr=16000), tone(2.0, sr=16000, f0=220)], axis=1)
    sf.write(tmp_path / "st.wav", y, 16000)
    out = audio.decode(tmp_path / "st.wav", sr=22050)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 2.0 * 22050) <= 2


def test_decode_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioError, match="bad.wav") as e:
        audio.decode(bad)
    assert e.value.problem == "unreadable_audio"
    with pytest.raises(AudioError) as e:
        audio.decode(tmp_path / "nope.wav")
    assert e.value.problem == "missing_file"
    # a file that is there but no audio: libsndfile's "File does not exist" would mislead, and the path is said once
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all, just text")
    with pytest.raises(AudioError) as e:
        audio.decode(text)
    assert "does not exist" not in e.value.detail and "not a format libsndfile knows" in e.value.detail
    assert str(text) not in e.value.detail


@pytest.mark.parametrize("seconds, expected", [(7.0, [0.0, 1.5, 3.0]), (6.0, [0.0, 1.5, 3.0]), (3.0, [0.0]), (2.9, [])])
def test_window_starts_drop_partial_last_window(seconds, expected):
    sr = 22050
    starts = audio.window_starts(int(seconds * sr), sr, 3.0, 1.5)
    np.testing.assert_allclose(starts / sr, expected)


def test_silent_and_short_are_refused():
    p = AudioParams()
    with pytest.raises(AudioError) as e:
        audio.check_usable(np.zeros(5 * p.sr, np.float32), "x.wav", p)
    assert e.value.problem == "silent_audio"
    with pytest.raises(AudioError) as e:
        audio.check_usable(tone(2.0), "x.wav", p)
    assert e.value.problem == "too_short"


def test_descriptors_named_shaped_finite():
    p = AudioParams(n_mfcc=13)
    y = tone(6.0)
    y[: int(3.5 * p.sr)] = 0.0  # a silent stretch must not produce NaN
    starts = audio.check_usable(y, "x.wav", p)
    S = descriptors._power_spec(y, p)
    F, tg = descriptors.frame_descriptors(y, p, S)
    D = descriptors.pool_windows(F, tg, starts, p)
    d = descriptors.pool_track(F, tg, p)
    names = descriptors.descriptor_names(p)
    assert len(set(names)) == len(names) == D.shape[1] == d.shape[0]
    assert D.shape[0] == len(starts) == 3
    for n in ["mfcc03_mean", "dmfcc13_std", "centroid_std", "contrast07_mean", "chroma_A_mean", "tempo_bpm"]:
        assert n in names
    assert np.isfinite(D).all() and np.isfinite(d).all()
    # the first window is silent, the last is not: energy must say so
    rms = names.index("rms_mean")
    assert D[0, rms] < 1e-3 < D[-1, rms]
    # the 440 Hz tone dominates chroma of the sounding window
    chroma = [names.index(f"chroma_{q}_mean") for q in descriptors.PITCHES]
    assert descriptors.PITCHES[int(np.argmax(D[-1, chroma]))] == "A"
    assert 30 < d[-1] < 320


def test_logmel_patch_i_starts_at_window_i():
    p = AudioParams(n_mels=32, patch_frames=64)
    y = tone(6.0)
    y[int(1.5 * p.sr):] *= 0.0  # loud first 1.5 s, silent after
    y[-p.sr:] = tone(1.0, amp=0.5)
    starts = audio.window_starts(len(y), p.sr, p.window_s, p.hop_s)
    P = descriptors.logmel_patches(descriptors._power_spec(y, p), starts, p)
    assert P.shape == (len(starts), 32, 64) and P.dtype == np.float32
    # window 0 starts loud; window 1 (from 1.5 s) starts in silence
    assert P[0, :, :10].mean() > P[1, :, 5:15].mean() + 20


def test_decode_mixes_channels_to_their_mean(tmp_path):
    y = np.clip(np.stack([tone(1.0), tone(1.0, f0=220, seed=1)], axis=1), -1, 1)  # above 1 is rescaled
    sf.write(tmp_path / "st.wav", y, 22050, subtype="FLOAT")
    np.testing.assert_allclose(audio.decode(tmp_path / "st.wav"), y.mean(axis=1), atol=1e-7)


@pytest.fixture(scope="module")
def spec():
    """A test signal, its power spectrogram from librosa (the reference) and from ``_power_spec``."""
    import librosa

    p = AudioParams()
    y = tone(6.0)
    y[: p.sr] *= 0.01  # a quiet second: contrast valleys and roll-off of a soft passage too
    ref = np.abs(librosa.stft(y, n_fft=p.n_fft, hop_length=p.hop_length)) ** 2
    return p, y, ref, descriptors._power_spec(y, p)


def test_power_spec_matches_librosa_stft(spec):
    p, y, ref, S = spec
    assert S.shape == ref.shape and S.dtype == np.float32 and S.flags["F_CONTIGUOUS"]
    np.testing.assert_allclose(S, ref, rtol=1e-5, atol=1e-6 * ref.max())


@pytest.mark.parametrize("n_mels, fmin, fmax", [(128, 0.0, None), (64, 0.0, None), (40, 50.0, 8000.0)])
def test_banded_mel_matches_librosa(spec, n_mels, fmin, fmax):
    import librosa

    p, y, _, S = spec
    ref = librosa.feature.melspectrogram(S=S, sr=p.sr, n_mels=n_mels, fmin=fmin, fmax=fmax)
    np.testing.assert_allclose(descriptors._mel(S, p.sr, p.n_fft, n_mels, fmin, fmax), ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_fast_descriptors_match_librosa(spec):
    import librosa

    p, y, _, S = spec
    S_mag = np.sqrt(S)
    freqs = librosa.fft_frequencies(sr=p.sr, n_fft=p.n_fft)
    np.testing.assert_allclose(descriptors._contrast(S_mag, p), librosa.feature.spectral_contrast(S=S_mag, sr=p.sr),
                               atol=1e-3)
    roll, roll_ref = descriptors._rolloff(S_mag, freqs), librosa.feature.spectral_rolloff(S=S_mag, sr=p.sr)[0]
    assert np.mean(roll == roll_ref) > 0.99  # a frame may tip over the 85 % threshold by rounding
    chroma = librosa.feature.chroma_stft(S=S, sr=p.sr, tuning=0.0)
    F, tg = descriptors.frame_descriptors(y, p, S)
    names = [n[:-5] for n in descriptors.descriptor_names(p)[:-1:2]]  # frame rows, in order
    row = {n: F[i] for i, n in enumerate(names)}
    np.testing.assert_allclose(np.stack([row[f"chroma_{q}"] for q in descriptors.PITCHES]), chroma, atol=1e-5)
    np.testing.assert_allclose(row["flatness"], librosa.feature.spectral_flatness(S=S_mag, power=2.0)[0], rtol=1e-4)
    np.testing.assert_allclose(row["centroid"], librosa.feature.spectral_centroid(S=S_mag, sr=p.sr)[0], rtol=1e-4)
    np.testing.assert_allclose(row["bandwidth"], librosa.feature.spectral_bandwidth(S=S_mag, sr=p.sr)[0], rtol=1e-3)
    np.testing.assert_allclose(row["rms"], librosa.feature.rms(S=S_mag, frame_length=p.n_fft)[0], rtol=1e-4)
    np.testing.assert_allclose(row["rolloff"], roll)
    # zero-crossing rate: sign changes inside each centred n_fft frame, counted naively
    change = np.concatenate([[False], np.signbit(y[1:]) != np.signbit(y[:-1])])
    naive = [change[max(c - p.n_fft // 2, 0) + 1:min(c + p.n_fft // 2, len(y) - 1) + 1].sum() / p.n_fft
             for c in np.arange(S.shape[1]) * p.hop_length]
    np.testing.assert_allclose(row["zcr"], naive)
    # tempogram: librosa's, every TEMPO_STEP-th column
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=S, sr=p.sr, n_mels=p.mfcc_n_mels), top_db=None)
    onset = librosa.onset.onset_strength(S=mel_db, sr=p.sr)
    tg_ref = librosa.feature.tempogram(onset_envelope=onset, sr=p.sr, hop_length=p.hop_length,
                                       win_length=int(round(8.0 * p.sr / p.hop_length)))[:, ::descriptors.TEMPO_STEP]
    np.testing.assert_allclose(tg, tg_ref, atol=1e-5)


@pytest.mark.parametrize("n_frames", [9, 10, 216, 3000])
def test_delta_matches_librosa(n_frames):
    import librosa

    F = np.random.default_rng(n_frames).normal(scale=50, size=(20, n_frames)).astype(np.float32)
    F[:, :n_frames // 2] += np.linspace(0, 40, n_frames // 2, dtype=np.float32)  # a ramp: edges with a slope
    d = descriptors._delta(F)
    assert d.shape == F.shape and d.dtype == np.float32
    np.testing.assert_allclose(d, librosa.feature.delta(F), atol=1e-5)
    with pytest.raises(librosa.util.exceptions.ParameterError, match="width=9"):
        descriptors._delta(F[:, :8])


@pytest.mark.parametrize("n_fft, hop", [(2048, 512), (2048, 384), (1024, 512)])
def test_zcr_block_and_per_sample_counts_agree(n_fft, hop):
    p = AudioParams(n_fft=n_fft, hop_length=hop)
    y = tone(2.0, seed=3)
    n = 1 + len(y) // hop
    change = np.concatenate([[False], np.signbit(y[1:]) != np.signbit(y[:-1])])
    naive = [change[max(c - n_fft // 2, 0) + 1:min(c + n_fft // 2, len(y) - 1) + 1].sum() / n_fft
             for c in np.arange(n) * hop]
    np.testing.assert_allclose(descriptors._zcr(y, n, p), naive)
