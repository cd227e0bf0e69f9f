"""extract_audio end to end on tiny WAVs: outputs, cache, failures, splits, normalisation, atomicity."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from songspace.features import extract, per_track
from songspace.features.audio import AudioParams
from songspace.features.extract import extract_audio
from songspace.features.saved import load_audio_features, logmel_stats, normalise
from songspace.training.split import split_by_song

P = AudioParams(n_mfcc=8, n_mels=16, patch_frames=32)


def write_wav(path, seconds, f0=330.0, amp=0.3, seed=0, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    y = amp * (np.sin(2 * np.pi * f0 * t) + 0.07 * np.random.default_rng(seed).standard_normal(len(t)))
    sf.write(path, y.astype(np.float32), sr)
    return str(path)


def make_tracks(d, specs):
    """specs: list of (track_id, seconds, f0, amp)."""
    d.mkdir(parents=True, exist_ok=True)
    rows = [dict(track_id=t, audio_path=write_wav(d / f"{t}.wav", s, f0, amp, seed=i), has_audio=True)
            for i, (t, s, f0, amp) in enumerate(specs)]
    return pd.DataFrame(rows)


@pytest.fixture
def tracks(tmp_path):
    return make_tracks(tmp_path / "audio", [("a", 4.0, 220, 0.3), ("b", 6.0, 440, 0.3), ("c", 5.0, 660, 0.01)])


def test_outputs_bookkeeping(tracks, tmp_path):
    out = tmp_path / "out"
    st = extract_audio(tracks, P, out, n_jobs=1, progress=False)
    r = load_audio_features(out)
    w = r["windows"]
    # 3 s windows every 1.5 s, a last partial window dropped: 4 s -> 1, 6 s -> 3, 5 s -> 2
    assert w.groupby("track_id", sort=False).size().to_dict() == {"a": 1, "b": 3, "c": 2}
    assert st["n_windows"] == len(w) == 6 and st["n_ok"] == 3 and st["n_failed"] == 0
    np.testing.assert_allclose(w["start_s"], [0, 0, 1.5, 3.0, 0, 1.5])
    np.testing.assert_allclose(w["end_s"] - w["start_s"], 3.0)
    assert w["window"].tolist() == [0, 0, 1, 2, 0, 1]
    dw, dt = r["descriptors_windows"], r["descriptors_tracks"]
    assert (dw["track_id"] == w["track_id"]).all() and (dw["window"] == w["window"]).all()
    assert dt["track_id"].tolist() == ["a", "b", "c"] and dt["n_windows"].tolist() == [1, 3, 2]
    names = r["meta"]["descriptors"]
    assert list(dw.columns[2:]) == names and set(names) <= set(dt.columns)
    assert np.isfinite(dw[names].to_numpy()).all() and np.isfinite(dt[names].to_numpy()).all()
    assert isinstance(r["logmel"], np.memmap) and r["logmel"].shape == (6, 16, 32) and r["logmel"].dtype == np.float32
    # the quiet track is quieter in every patch: rows follow windows.parquet
    loud = r["logmel"][(w["track_id"] == "b").to_numpy()].mean()
    quiet = r["logmel"][(w["track_id"] == "c").to_numpy()].mean()
    assert quiet < loud - 10
    assert len(r["failures"]) == 0


def test_cache_hit_and_invalidation(tracks, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False)
    assert first["decoded"] == 3 and first["desc_computed"] == 3 and first["logmel_computed"] == 3
    d1 = load_audio_features(out)["descriptors_windows"]

    again = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False)
    assert again["decoded"] == 0 and again["desc_cached"] == 3 and again["logmel_cached"] == 3

    # n_mels touches only the log-mel patches
    p2 = AudioParams(**{**P.as_dict(), "n_mels": 24})
    st = extract_audio(tracks, p2, out, n_jobs=1, cache_dir=cache, progress=False)
    assert st["decoded"] == 3 and st["desc_cached"] == 3 and st["logmel_computed"] == 3
    r = load_audio_features(out)
    assert r["logmel"].shape[1] == 24
    pd.testing.assert_frame_equal(r["descriptors_windows"], d1)

    # n_mfcc touches only the descriptors
    p3 = AudioParams(**{**P.as_dict(), "n_mfcc": 10})
    st = extract_audio(tracks, p3, out, n_jobs=1, cache_dir=cache, progress=False)
    assert st["desc_computed"] == 3 and st["logmel_cached"] == 3

    # new content in one file: only that track is recomputed
    write_wav(tracks.audio_path[1], 6.0, f0=880, seed=9)
    st = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False)
    assert st["decoded"] == 1 and st["desc_computed"] == 1 and st["desc_cached"] == 2
    d2 = load_audio_features(out)["descriptors_windows"]
    changed = (d2 != d1).any(axis=1)
    assert set(d2.loc[changed, "track_id"]) == {"b"}


def test_bad_tracks_recorded_batch_goes_on(tmp_path):
    tr = make_tracks(tmp_path / "audio", [("ok1", 4.0, 220, 0.3), ("ok2", 4.0, 330, 0.3), ("short", 2.0, 220, 0.3)])
    corrupt = tmp_path / "audio" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    silent = tmp_path / "audio" / "silent.wav"
    sf.write(silent, np.zeros(5 * 22050, np.float32), 22050)
    extra = pd.DataFrame([
        dict(track_id="corrupt", audio_path=str(corrupt), has_audio=True),
        dict(track_id="silent", audio_path=str(silent), has_audio=True),
        dict(track_id="gone", audio_path=str(tmp_path / "missing.wav"), has_audio=True),
        dict(track_id="lyrics_only", audio_path=None, has_audio=False),
    ])
    tr = pd.concat([tr.iloc[:1], extra, tr.iloc[1:]], ignore_index=True)  # bad ones in the middle
    st = extract_audio(tr, P, tmp_path / "out", n_jobs=1, progress=False)
    assert st["n_tracks"] == 6 and st["n_ok"] == 2 and st["n_failed"] == 4
    r = load_audio_features(tmp_path / "out")
    assert r["windows"]["track_id"].unique().tolist() == ["ok1", "ok2"]
    f = r["failures"].set_index("track_id")
    assert list(r["failures"].columns) == extract.FAILURE_COLUMNS
    assert f.loc["corrupt", "problem"] == "unreadable_audio" and f.loc["corrupt", "path"] == str(corrupt)
    assert f.loc["silent", "problem"] == "silent_audio"
    assert f.loc["short", "problem"] == "too_short"
    assert f.loc["gone", "problem"] == "missing_file"
    assert (r["failures"]["modality"] == "audio").all()
    with pytest.raises(ValueError, match="has_audio"):
        extract_audio(tr.drop(columns="has_audio"), P, tmp_path / "out2", n_jobs=1, progress=False)


def test_no_usable_audio_is_a_batch_result_and_clears_an_earlier_run(tmp_path):
    """All files fail: no crash, one failure row each, and an earlier run's features are gone, so no later
    stage reads songs this run did not extract; the tracks and report 02-06 read say the same."""
    from songspace.data import loading

    good = make_tracks(tmp_path / "audio", [("a", 4.0, 220, 0.3)])
    out = tmp_path / "out"
    assert extract_audio(good, P, out, n_jobs=1, progress=False)["n_ok"] == 1
    assert (out / "descriptors_tracks.parquet").exists()
    silent = tmp_path / "audio" / "a.wav"
    sf.write(silent, np.zeros(5 * 22050, np.float32), 22050)  # the same song, now silent
    st = extract_audio(good, P, out, n_jobs=1, cache_dir=False, progress=False)
    assert st["n_ok"] == 0 and st["n_failed"] == 1
    assert not any((out / n).exists() for n in ("descriptors_tracks.parquet", "windows.parquet", "logmel.npy"))
    interim = tmp_path / "interim"
    loading.write_interim(good.assign(lyrics="la la", has_lyrics=True), pd.DataFrame(columns=loading.REPORT_COLUMNS), interim)
    assert loading.read_tracks(interim)["has_audio"].all()  # 00 only opened the header
    assert not loading.read_tracks(interim, out)["has_audio"].any()
    report = loading.read_report(interim, out)
    assert report[["track_id", "modality", "problem", "kept"]].values.tolist() == [["a", "audio", "silent_audio", False]]


def test_split_by_song_on_windows_and_train_only_stats(tracks, tmp_path):
    extract_audio(tracks, P, tmp_path / "out", n_jobs=1, progress=False)
    r = load_audio_features(tmp_path / "out")
    ids = r["windows"]["track_id"].to_numpy()
    train, val = split_by_song(ids, val_fraction=0.34, seed=1)
    assert not set(ids[train]) & set(ids[val]) and train.any() and val.any()
    lm = r["logmel"]
    mean, std = logmel_stats(lm, train)
    x = np.asarray(lm[train], dtype=np.float64)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(std, x.std(axis=(0, 2)), rtol=1e-3, atol=1e-3)
    all_mean, _ = logmel_stats(lm, np.ones(len(lm), bool))
    assert np.abs(all_mean - mean).max() > 1.0  # the held-out songs would have moved the statistics
    z = normalise(lm[train], mean, std)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-3)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-2)
    with pytest.raises(ValueError):
        logmel_stats(lm, np.zeros(len(lm), bool))


def test_atomic_outputs_and_leftover_temp_files(tracks, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    # leftovers of a crashed earlier run must never be read as output
    (out / ".logmel.npy.123.tmp").write_bytes(b"junk")
    (out / ".windows.parquet.456.tmp").write_bytes(b"junk")
    with pytest.raises(FileNotFoundError, match="windows.parquet"):
        load_audio_features(out)
    cache = tmp_path / "cache"
    extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False)
    before = load_audio_features(out)
    lm_before = np.array(before["logmel"])

    # a crash in the middle of a later run leaves the previous outputs whole and no temp file behind
    real = per_track.track_features
    calls = []

    def flaky(job):
        calls.append(job["track_id"])
        if len(calls) == 2:
            raise RuntimeError("worker died")
        return real(job)

    monkeypatch.setattr(extract, "track_features", flaky)
    p2 = AudioParams(**{**P.as_dict(), "n_mels": 8})
    with pytest.raises(RuntimeError, match="worker died"):
        extract_audio(tracks, p2, out, n_jobs=1, cache_dir=cache, progress=False)
    monkeypatch.setattr(extract, "track_features", real)
    after = load_audio_features(out)
    np.testing.assert_array_equal(np.array(after["logmel"]), lm_before)
    pd.testing.assert_frame_equal(after["descriptors_windows"], before["descriptors_windows"])
    new_tmp = {p.name for p in out.glob(".*")} - {".logmel.npy.123.tmp", ".windows.parquet.456.tmp"}
    assert new_tmp == set()

    # a truncated cache entry is a miss, recomputed, not an error
    entry = sorted(cache.glob("desc-*.npz"))[0]
    entry.write_bytes(entry.read_bytes()[:50])
    st = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False)
    assert st["desc_computed"] == 1 and st["desc_cached"] == 2
    pd.testing.assert_frame_equal(load_audio_features(out)["descriptors_windows"], before["descriptors_windows"])


def test_a_killed_cache_write_is_cleaned_and_a_run_without_audio_leaves_no_audio_behind(tmp_path):
    from songspace.features.saved import FAILURES, NOTES

    cache = tmp_path / "cache"
    cache.mkdir()
    stale = cache / ".desc-abc.npz.999999999-x.tmp"  # no such process: its writer was killed
    stale.write_bytes(b"half")
    out = tmp_path / "processed"
    out.mkdir()
    for name in (FAILURES, NOTES, "descriptors_tracks.parquet", "logmel.npy", "audio_musicnn-msd_tracks.parquet"):
        (out / name).write_text("an earlier run's")
    tracks = pd.DataFrame({"track_id": ["a"], "audio_path": [str(tmp_path / "nope.wav")], "has_audio": [True]})
    extract.extract_audio(tracks, out_dir=tmp_path / "other", cache_dir=cache, n_jobs=1, progress=False)
    assert not stale.exists()
    extract.remove_audio_outputs(out)
    assert sorted(p.name for p in out.iterdir()) == []


def test_a_library_upgrade_recomputes_what_the_cache_holds(tracks, tmp_path, monkeypatch):
    from songspace import cache as C
    from songspace.features import audio

    out, cache = tmp_path / "out", tmp_path / "cache"
    assert C.library_versions("numpy", "no-such-distribution") == {"numpy": np.__version__,
                                                                    "no-such-distribution": None}
    extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False)
    d1 = load_audio_features(out)["descriptors_windows"]
    real = audio.library_versions
    monkeypatch.setattr(audio, "library_versions", lambda *names: {**real(*names), "soundfile": "99.0"})
    st = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False)
    assert st["decoded"] == 3 and st["desc_computed"] == 3 and st["logmel_computed"] == 3
    pd.testing.assert_frame_equal(load_audio_features(out)["descriptors_windows"], d1)  # same numbers here
    monkeypatch.setattr(audio, "library_versions", real)
    st = extract_audio(tracks, P, out, n_jobs=1, cache_dir=cache, progress=False)
    assert st["decoded"] == 0 and st["desc_cached"] == 3


def test_one_recording_in_two_files_is_a_kept_note_and_other_songs_are_not(tmp_path):
    """A FLAC of a WAV (other bytes, the same sound) is a same_recording note naming the first; a song of the
    same length, a byte-identical copy (validation's duplicate_audio) and a cut of the song are not."""
    import shutil

    from songspace.features.saved import read_notes

    d = tmp_path / "audio"
    d.mkdir()
    rng = np.random.default_rng(0)
    y = (0.3 * rng.standard_normal(22050 * 8) * np.repeat(rng.random(16), 22050 // 2)).astype(np.float32)
    sf.write(d / "song.wav", y, 22050)
    sf.write(d / "song.flac", y, 22050)  # lossless: other bytes, the same samples
    shutil.copyfile(d / "song.wav", d / "copy.wav")
    sf.write(d / "cut.wav", y[: 22050 * 6], 22050)
    z = (0.3 * rng.standard_normal(22050 * 8) * np.repeat(rng.random(16), 22050 // 2)).astype(np.float32)
    sf.write(d / "other.wav", z, 22050)
    names = ["song.wav", "song.flac", "copy.wav", "cut.wav", "other.wav"]
    tracks = pd.DataFrame(dict(track_id=names, audio_path=[str(d / n) for n in names], has_audio=True))
    stats = extract_audio(tracks, P, tmp_path / "out", n_jobs=1, progress=False)
    notes = read_notes(tmp_path / "out")
    same = notes[notes["problem"] == "same_recording"].set_index("track_id")
    assert stats["same_recordings"] == 1 and same.index.tolist() == ["song.flac"]
    assert str(d / "song.wav") in same.loc["song.flac", "detail"] and same.loc["song.flac", "path"].endswith("song.flac")
