"""Every common format decodes without the ffmpeg program; damaged and out-of-range audio is used with a row."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from songspace.data.loading import load_dataset
from songspace.data.validation import validate
from songspace.features import audio, formats
from songspace.features.extract import extract_audio
from songspace.features.saved import read_notes

from tagged import tone, write_audio

FORMATS = [".wav", ".aiff", ".flac", ".ogg", ".mp3", ".m4a", ".opus", ".wma"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_each_format_decodes_to_the_tone_without_an_ffmpeg_program(tmp_path, suffix, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg program can be found, whatever the machine has
    assert shutil.which("ffmpeg") is None
    p = write_audio(tmp_path / f"a{suffix}", seconds=2.0, channels=2)
    y, notes = audio.decode_checked(p, 22050, 1.0)
    assert notes == [] and y.dtype == np.float32 and abs(len(y) / 22050 - 2.0) < 0.1
    ref = tone(2.0)[:, 0]
    n = min(len(ref), len(y)) // 2  # lossy codecs add a delay: compare spectra, not samples
    spec = lambda z: np.abs(np.fft.rfft(z[:n] * np.hanning(n)))  # noqa: E731
    assert np.argmax(spec(y)) == pytest.approx(np.argmax(spec(ref)), abs=2)


def test_the_decoder_of_each_format_is_the_one_named():
    assert formats.DECODERS[".mp3"] == "soundfile"  # the shipped corpus's samples stay libsndfile's
    assert {formats.DECODERS[s] for s in (".m4a", ".opus", ".wma")} == {"av"}  # the only one, or measured faster


def test_an_ogg_holding_opus_falls_back_to_the_other_decoder(tmp_path, monkeypatch):
    p = write_audio(tmp_path / "a.opus", seconds=1.5)
    q = tmp_path / "a.ogg"
    os.replace(p, q)
    monkeypatch.setitem(audio._READERS, "soundfile", lambda path, **kw: (_ for _ in ()).throw(RuntimeError("no opus")))
    d = audio.read(q)
    assert d.decoder == "av" and len(d.y) > 0


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize("suffix", [".wav", ".aiff", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".wma"])
def test_a_truncated_file_is_kept_with_a_row_when_long_enough(tmp_path, suffix):
    intact = write_audio(tmp_path / f"a{suffix}", seconds=8.0)
    assert audio.decode_checked(intact, 22050, 2.0)[1] == []
    p = _truncate(intact)
    y, notes = audio.decode_checked(p, 22050, 2.0)
    assert [n[0] for n in notes] == ["truncated"], notes
    # the length the header states where it states one; an Ogg file says it lost its end page
    assert (" of 8.0 s decoded" in notes[0][1]) or ("no end page" in notes[0][1] and suffix in (".ogg", ".opus"))
    assert 2.0 <= len(y) / 22050 <= 6.0
    with pytest.raises(audio.AudioError, match="truncated: .* less than the 7.0 s minimum"):
        audio.decode_checked(p, 22050, 7.0)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".m4a"])
def test_the_scan_and_01_give_a_cut_file_the_same_verdict(tmp_path, suffix):
    """00's full check (``check_silence``) keeps a file that decodes part-way when 01's decode keeps it."""
    from songspace.data import validation

    p = _truncate(write_audio(tmp_path / f"cut{suffix}", seconds=18.0), keep=1 / 3)
    y, notes = audio.decode_checked(p, 22050, 3.0)
    verdict = validation._check_audio(str(p), 3.0, True)
    assert notes[0][0] == "truncated"
    # (a cut WAV too: libsndfile sizes it by its data, the length judged against is its RIFF header's)
    assert verdict is not None and verdict[0] == "truncated" and "kept" in verdict[1], (verdict, notes)


def test_a_float_file_above_full_scale_is_rescaled_with_a_row(tmp_path):
    p = tmp_path / "loud.wav"
    sf.write(p, tone(2.0) * 1e6 / 0.35, 22050, subtype="FLOAT")
    y, notes = audio.decode_checked(p, 22050, 1.0)
    assert notes[0][0] == "out_of_range" and "rescaled to peak 1.0" in notes[0][1]
    assert np.max(np.abs(y)) <= 1.01
    pcm = write_audio(tmp_path / "pcm.wav", seconds=2.0)
    assert audio.decode_checked(pcm, 22050, 1.0)[1] == []


def test_notes_reach_the_report_and_survive_the_cache(tmp_path):
    from songspace.data.loading import read_report, write_interim

    root = tmp_path / "c"
    for i in range(3):
        write_audio(root / f"ok{i}.wav", seconds=6.0, seed=i)
    _truncate(write_audio(root / "cut.mp3", seconds=12.0, seed=5))
    sf.write(root / "loud.wav", tone(6.0, seed=7) * 50, 22050, subtype="FLOAT")  # seed 0 would be ok0, louder:
    clean, report = validate(load_dataset(root), min_duration_s=3.0, check_silence=False)  # one recording
    write_interim(clean, report, tmp_path / "interim")
    for run in range(2):  # the second run reads every part from the cache
        stats = extract_audio(clean, audio.AudioParams(), tmp_path / "processed", n_jobs=1,
                              cache_dir=tmp_path / "cache")
        assert stats["n_ok"] == 5 and stats["decoded"] == (5 if run == 0 else 0)
        notes = read_notes(tmp_path / "processed").set_index("track_id")["problem"].to_dict()
        assert notes == {"cut": "truncated", "loud": "out_of_range"}
    full = read_report(tmp_path / "interim", tmp_path / "processed")
    assert full.set_index("track_id").loc["cut", "kept"]


@pytest.mark.parametrize("check_silence", [False, True])
def test_a_folder_of_every_format_validates_clean(tmp_path, check_silence):
    for i, suffix in enumerate(FORMATS):
        write_audio(tmp_path / f"s{i}{suffix}", seconds=4.0, seed=i, channels=2)
    clean, report = validate(load_dataset(tmp_path), min_duration_s=3.0, check_silence=check_silence)
    assert report.empty, report.to_string()
    assert clean["has_audio"].all() and len(clean) == len(FORMATS)
    assert audio.probe(tmp_path / "s5.m4a")[1] == 44100


def test_a_text_file_named_like_audio_is_not_audio_rather_than_too_short(tmp_path):
    """FFmpeg's flac demuxer opens a text file and reports a stream of 0 Hz: that is not audio, not 0 s of it."""
    fake = tmp_path / "notes.flac"
    fake.write_text("these are liner notes, not audio\n" * 40)
    with pytest.raises(audio.AudioError, match="no sample rate|not a decodable audio file") as e:
        audio.probe(fake)
    assert e.value.problem == "unreadable_audio"
    write_audio(tmp_path / "song.wav", seconds=4.0, seed=0)
    _, report = validate(load_dataset(tmp_path), min_duration_s=3.0, check_silence=False)
    assert list(report["problem"]) == ["unreadable_audio"]


@pytest.mark.parametrize("check_silence", [False, True])
@pytest.mark.parametrize("held, named", [(".m4a", ".mp3"), (".wav", ".mp3"), (".mp3", ".wav"), (".opus", ".m4a")])
def test_a_file_named_as_another_format_is_read_as_what_it_holds_with_a_row(tmp_path, held, named, check_silence):
    """The bytes choose the decoder: libsndfile took an M4A file named .mp3 (a renamed download) for an MP3 and
    decoded nothing of it, so the song was lost. The row says so, since other programs may go by the name."""
    folder = tmp_path / "lib"
    folder.mkdir()
    p = folder / f"song{named}"
    os.replace(write_audio(tmp_path / f"src{held}", seconds=4.0, seed=1), p)
    y, notes = audio.decode_checked(p, 22050, 1.0)
    assert notes == [] and abs(len(y) / 22050 - 4.0) < 0.1
    n = len(y) // 2
    spec = lambda z: np.abs(np.fft.rfft(z[:n] * np.hanning(n)))  # noqa: E731
    assert np.argmax(spec(y)) == pytest.approx(np.argmax(spec(tone(4.0, seed=1)[:, 0])), abs=2)
    clean, report = validate(load_dataset(folder), min_duration_s=3.0, check_silence=check_silence)
    assert clean["has_audio"].all()
    assert report[["problem", "kept"]].values.tolist() == [["misnamed_audio", True]], report.to_string()
    detail = report["detail"].iloc[0]
    assert detail.startswith(f"its bytes are {formats.CONTAINERS[formats.container(p)].name}, not the ")
    assert f"its {named} suffix" in detail


def test_the_bytes_name_every_format_and_nothing_else(tmp_path):
    """``container`` reads signatures (FFmpeg's probe read up to 5 MB of each WAV file): every format written,
    an MP3 behind its ID3 tag, and nothing for text, random bytes or an empty file."""
    from tagged import write_tags

    want = {".wav": "wav", ".aiff": "aiff", ".flac": "flac", ".ogg": "ogg", ".mp3": "mp3", ".m4a": "mp4",
            ".opus": "opus", ".wma": "asf"}
    for suffix, key in want.items():
        p = write_audio(tmp_path / f"a{suffix}", seconds=1.0)
        assert formats.container(p) == key and formats.decoder_for(p) == formats.DECODERS[suffix] and not formats.misnamed(p)
    write_tags(tmp_path / "a.mp3", title="T", artist="A")
    assert (tmp_path / "a.mp3").read_bytes()[:3] == b"ID3" and formats.container(tmp_path / "a.mp3") == "mp3"
    (tmp_path / "notes.mp3").write_text("liner notes\n" * 20)
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    (tmp_path / "empty.flac").write_bytes(b"")
    for name in ("notes.mp3", "noise.wav", "empty.flac", "missing.ogg"):
        assert formats.container(tmp_path / name) is None


def test_a_header_libsndfile_reads_is_still_read_by_it(tmp_path):
    """An Opus file keeps its own sample rate in the header libsndfile reads (FFmpeg always says 48 kHz):
    a telephone recording named .opus still gets its row."""
    sf.write(tmp_path / "phone.opus", tone(4.0, sr=8000)[:, 0], 8000, format="OGG", subtype="OPUS")
    assert audio.probe(tmp_path / "phone.opus") == (pytest.approx(4.0, abs=0.01), 8000)
    _, report = validate(load_dataset(tmp_path), min_duration_s=3.0, check_silence=False)
    assert report["problem"].tolist() == ["low_sample_rate"]


def test_the_decoder_is_part_of_the_cache_key(tmp_path):
    """The same Opus bytes named .opus (FFmpeg) and .ogg (libsndfile) decode to different samples: one must
    not be served the other's cached features."""
    from songspace.features import per_track

    p = write_audio(tmp_path / "a.opus", seconds=1.0)
    q = tmp_path / "a.ogg"
    q.write_bytes(p.read_bytes())
    assert formats.decoder_for(p) == "av" and formats.decoder_for(q) == "soundfile"
    parts = ["desc", "logmel", "musicnn-msd"]
    kp, kq = per_track._keys(p, audio.AudioParams(), parts), per_track._keys(q, audio.AudioParams(), parts)
    assert all(kp[k] != kq[k] for k in parts)
    assert all(kp[k].split("-")[1] == kq[k].split("-")[1] for k in ("desc", "logmel"))  # the same content hash


def test_an_mp3_without_a_xing_header_and_with_cover_art_is_not_truncated(tmp_path):
    """libsndfile sizes such an MP3 from its bytes, the ID3 tag's 200 kB of cover art included (20 s for 8 s
    of audio); the length judged against is mutagen's, which leaves the tag out."""
    from mutagen.id3 import APIC, ID3, TIT2
    from songspace.data import validation

    p = write_audio(tmp_path / "cover.mp3", seconds=8.0)
    data = p.read_bytes()
    assert b"Xing" in data[:64] or b"Info" in data[:64]  # libsndfile's LAME writes the header frame first
    p.write_bytes(data[data.find(data[:2], 4):])  # from the next frame on: as older encoders wrote MP3s
    tag = ID3()
    tag.add(TIT2(encoding=3, text="with cover"))
    tag.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="cover", data=b"\xff\xd8" + bytes(200_000)))
    tag.save(p)
    assert sf.info(p).duration > 15.0  # what the check compared with before
    y, notes = audio.decode_checked(p, 22050, 2.0)
    assert notes == [] and len(y) / 22050 > 7.5
    assert validation._check_audio(str(p), 2.0, True) is None  # 00's full check agrees


def test_a_file_the_user_cannot_read_is_a_row_in_the_full_check_and_in_01(tmp_path):
    """Run as an unprivileged user (root reads every file): 00's full check and 01's worker name the file."""
    import subprocess
    import sys
    import tempfile

    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run the check as another user")
    root = tempfile.mkdtemp(prefix="songspace-perm-")  # under /tmp, which every user may traverse
    try:
        os.chmod(root, 0o755)
        locked = write_audio(Path(root) / "locked.wav", seconds=2.0)
        os.chmod(locked, 0o000)
        code = ("import sys; from songspace.data import validation; from songspace.features import audio, per_track;"
                "print(validation._check_audio(sys.argv[1], 1.0, True));"
                "p = audio.AudioParams().as_dict();"
                "r = per_track.track_features(dict(track_id='t', path=sys.argv[1], params=p, cache_dir=None));"
                "print(r.get('problem'), r.get('detail'))")
        run = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code,
                              str(locked)], capture_output=True, text=True, cwd=root,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert run.returncode == 0, run.stderr
        check, worker = run.stdout.strip().splitlines()
        assert check == "('unreadable_audio', 'cannot be opened (permission denied)')"
        assert worker.startswith("unreadable_audio cannot be opened")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_streamed_wav_whose_header_states_no_length_is_not_truncated(tmp_path):
    """Recorders that stream a WAV write a RIFF and data size of 0xFFFFFFFF: no length, not 24,000 s promised."""
    from songspace.data import validation

    p = write_audio(tmp_path / "streamed.wav", seconds=3.0)
    data = bytearray(p.read_bytes())
    at = data.find(b"data")
    data[4:8] = data[at + 4:at + 8] = b"\xff\xff\xff\xff"
    p.write_bytes(bytes(data))
    y, notes = audio.decode_checked(p, 22050, 1.0)
    assert notes == [] and abs(len(y) / 22050 - 3.0) < 0.05
    assert validation._check_audio(str(p), 1.0, True) is None


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".m4a"])
def test_a_file_longer_than_the_cap_is_analysed_over_its_first_part_with_a_note(tmp_path, suffix, monkeypatch):
    """A 3-h mix decoded whole would take ~7 GB: its first MAX_DECODE_S are used, and a row says so."""
    monkeypatch.setattr(audio, "MAX_DECODE_S", 2.0)
    p = write_audio(tmp_path / f"mix{suffix}", seconds=6.0)
    y, notes = audio.decode_checked(p, 22050, 1.0)
    assert abs(len(y) / 22050 - 2.0) < 0.05
    assert [n[0] for n in notes] == ["long_audio"] and "first 0.0 min analysed, of 0.1 min" in notes[0][1], notes
