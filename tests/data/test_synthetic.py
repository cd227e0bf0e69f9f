"""The synthetic dataset: deterministic bytes, planted counts, genre audible, language readable."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from songspace import cli
from songspace.data.loading import load_dataset
from songspace.data.synthetic import WORDS, make_synthetic
from songspace.data.validation import validate

TINY = dict(n_per_cell=2, duration_s=4.0, sr=8000)


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_synthetic(tmp_path_factory.mktemp("syn") / "a", **TINY).parent


def test_deterministic_and_seeded(tiny, tmp_path):
    again = make_synthetic(tmp_path / "b", **TINY).parent
    assert _files(tiny) == _files(again)
    other = make_synthetic(tmp_path / "c", seed=1, **TINY).parent
    a = sf.read(tiny / "audio" / "drone_en_00.wav")[0]
    assert not np.array_equal(a, sf.read(other / "audio" / "drone_en_00.wav")[0])


def test_planted_counts_and_valid_layout(tiny):
    m = pd.read_csv(tiny / "manifest.csv")
    assert list(m.columns) == ["track_id", "audio_path", "lyrics_path", "genre", "language", "artist", "title"]
    assert len(m) == 18 and (m.groupby(["genre", "language"]).size() == 2).all()
    assert (tiny / ".complete").is_file()
    info = sf.info(tiny / m["audio_path"][0])
    assert info.subtype == "PCM_16" and info.samplerate == 8000 and abs(info.duration - 4.0) < 1e-3
    clean, report = validate(load_dataset(tiny))
    # 8 kHz files are noted (kept), nothing is excluded
    assert set(report["problem"]) <= {"low_sample_rate"} and report["kept"].all()
    assert clean["has_audio"].all() and clean["has_lyrics"].all()


def test_genre_is_in_the_audio_language_in_the_lyrics(tiny):
    df = load_dataset(tiny)
    # spectral centroid (Hz): drone's low, dark notes sit below every other track
    cent = {}
    for r in df.itertuples():
        y, sr = sf.read(r.audio_path)
        mag = np.abs(np.fft.rfft(y))
        cent[r.track_id] = float((np.fft.rfftfreq(len(y), 1 / sr) * mag).sum() / mag.sum())
    c = df["track_id"].map(cent)
    assert c[df["genre"] == "drone"].max() < c[df["genre"] != "drone"].min()
    # tracks differ within a genre (not one waveform copied)
    assert c[df["genre"] == "shuffle"].std() > 0
    for r in df.itertuples():
        assert set(r.lyrics.lower().split()) <= {w.lower() for w in WORDS[r.language]}


def test_rerun_same_params_is_kept_unknown_genre_refused(tiny, tmp_path):
    mtime = (tiny / "manifest.csv").stat().st_mtime_ns
    make_synthetic(tiny, **TINY)
    assert (tiny / "manifest.csv").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="polka"):
        make_synthetic(tmp_path / "x", genres=("polka",))


def test_cli(tmp_path, capsys):
    cli.main(["synth", "--out", str(tmp_path / "d"), "--n-per-cell", "1", "--duration", "3"])
    assert "wrote 9 tracks" in capsys.readouterr().out
