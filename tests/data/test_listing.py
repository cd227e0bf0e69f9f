"""What a folder's listing takes in: names that start with ".", every audio format the decoder reads, folders the
user cannot read, files that are no regular files. Each file is a song, or a named row, or clutter the scan
passes over on purpose (system folders, AppleDouble files, cover art); ``listing`` (make's stamp) agrees."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import songspace
import soundfile as sf
from songspace.data import collection
from songspace.data.loading import load_dataset
from songspace.data.validation import validate
from songspace.features import audio

from tagged import tone, write_audio

REAL_DOT_NAMES = ["Metallica/...And Justice for All/01 Blackened.wav",
                  ".38 Special/Wild-Eyed Southern Boys/01 Hold On Loosely.wav",
                  "Britney Spears/...Baby One More Time/01 ...Baby One More Time.wav",
                  "Other/...Ready for It.wav", "Other/.5 The Gray Chapter.wav"]


def _rows(report, problem):
    return report[report["problem"] == problem]


def _listed(root: Path) -> set[str]:
    return {line.split("\t")[0] for line in collection.listing(root).splitlines()[1:]}


def test_names_that_start_with_dots_or_digits_after_a_dot_are_songs(tmp_path):
    root = tmp_path / "music"
    for i, rel in enumerate(REAL_DOT_NAMES):
        write_audio(root / rel, seconds=1.0, seed=i)
    (root / "Other" / ".5 The Gray Chapter.txt").write_text("words\n", encoding="utf-8")
    clean, report = validate(load_dataset(root), min_duration_s=0.5)
    assert sorted(clean["track_id"]) == sorted(r.removesuffix(".wav") for r in REAL_DOT_NAMES)
    assert clean.set_index("track_id").loc["Other/.5 The Gray Chapter", "lyrics"] == "words\n"
    assert report.empty
    assert _listed(root) == set(REAL_DOT_NAMES) | {"Other/.5 The Gray Chapter.txt"}


def test_system_clutter_is_skipped_and_a_hidden_song_is_a_row(tmp_path):
    root = tmp_path / "music"
    write_audio(root / "A" / "song.wav", seconds=1.0)
    for i, clutter in enumerate([".git/objects/x.wav", ".Trash-1000/files/old.wav", ".Trashes/501/old.wav",
                                 "@eaDir/song.wav/SYNOPHOTO.wav", "$RECYCLE.BIN/S-1-5/old.wav",
                                 "System Volume Information/x.wav", ".Spotlight-V100/x.wav"]):
        write_audio(root / clutter, seconds=1.0, seed=i + 1)
    (root / "A" / "._song.wav").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble: a Mac file's metadata
    (root / "A" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "A" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    write_audio(root / "A" / ".secret.wav", seconds=1.0, seed=9)
    write_audio(root / ".cache" / "B" / "kept away.wav", seconds=1.0, seed=10)
    clean, report = validate(load_dataset(root), min_duration_s=0.5)
    assert clean["track_id"].tolist() == ["A/song"]
    hidden = _rows(report, "hidden_file").set_index("track_id")
    assert sorted(hidden.index) == [".cache/B/kept away", "A/.secret"] and len(report) == 2
    assert hidden.loc["A/.secret", "detail"].startswith("a hidden file") and "rename it" in hidden.loc["A/.secret", "detail"]
    assert 'in the hidden folder ".cache"' in hidden.loc[".cache/B/kept away", "detail"]
    # make's stamp changes for what the scan reads or reports, and only for that
    assert _listed(root) == {"A/song.wav", "A/cover.jpg", "A/.secret.wav", ".cache/B/kept away.wav"}


# Formats beyond tagged.write_audio's, each written as a ripper, yt-dlp or an audiobook shop writes it.
AV_WRITTEN = {".wv": ("wv", "wavpack"), ".webm": ("webm", "libopus"), ".mka": ("matroska", "libopus"),
              ".m4b": ("ipod", "aac"), ".mp2": ("mp2", "mp2"), ".ac3": ("ac3", "ac3"), ".tta": ("tta", "tta")}
SF_WRITTEN = {".caf": "CAF", ".w64": "W64", ".au": "AU"}


def _write(path: Path, seconds: float = 1.5, seed: int = 0) -> Path:
    """A stereo tone in the format ``path``'s suffix names (``AV_WRITTEN``, ``SF_WRITTEN``)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    y = tone(seconds, 48000, seed, channels=2)
    if path.suffix in SF_WRITTEN:
        sf.write(path, y, 48000, format=SF_WRITTEN[path.suffix])
        return path
    fmt, codec = AV_WRITTEN[path.suffix]
    with av.open(str(path), "w", format=fmt) as out:
        st = out.add_stream(codec, rate=48000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y.T), format="fltp", layout="stereo")
        frame.sample_rate = 48000
        resample = av.AudioResampler(format=st.codec_context.codec.audio_formats[0].name, layout="stereo", rate=48000)
        for f in resample.resample(frame) + resample.resample(None) + [None]:
            for packet in st.encode(f):
                out.mux(packet)
    return path


@pytest.mark.parametrize("suffix", sorted(AV_WRITTEN) + sorted(SF_WRITTEN))
def test_every_listed_format_decodes_and_is_a_song(tmp_path, suffix):
    root = tmp_path / "music"
    path = _write(root / f"song{suffix}")
    write_audio(root / "other.wav", seconds=1.5, seed=1)
    assert suffix in collection.AUDIO_SUFFIXES
    y, notes = audio.decode_checked(path, 22050)
    assert abs(len(y) / 22050 - 1.5) < 0.2 and np.abs(y).max() > 0.1 and notes == []
    for decode in (False, True):  # 00's header check, and its decode_audio = True
        clean, report = validate(load_dataset(root), min_duration_s=0.5, check_silence=decode)
        assert clean["has_audio"].all() and sorted(clean["track_id"]) == ["other", "song"], report
        assert report.empty, report


def test_unread_music_formats_are_rows_and_clutter_is_not(tmp_path):
    root = tmp_path / "music"
    write_audio(root / "A" / "song.wav", seconds=1.0)
    write_audio(root / " intro.wav", seconds=1.0, seed=3)
    for i, name in enumerate(["trailing dot.wav.", "trailing space.wav "], 1):  # names a Linux copy allows
        write_audio(root / "A" / "x.wav", seconds=1.0, seed=i).rename(root / "A" / name)
    (root / "A" / "lossless.ape").write_bytes(b"MAC \x96\x0f" + bytes(100))
    (root / "A" / "tune.mid").write_bytes(b"MThd\x00\x00\x00\x06")
    (root / "A" / "broken.wv").write_bytes(b"wvpk" + bytes(100))  # a listed format the decoders cannot read
    for clutter in ("cover.jpg", "album.m3u", "album.cue", "album.nfo", "rip.log", "lyrics.txt", "Thumbs.db"):
        (root / "A" / clutter).write_bytes(b"x")
    clean, report = validate(load_dataset(root), min_duration_s=0.5)
    assert clean.loc[clean["has_audio"], "track_id"].tolist() == [" intro", "A/song", "A/trailing dot",
                                                                "A/trailing space"]
    unread = _rows(report, "unsupported_format").set_index("track_id")
    assert sorted(unread.index) == ["A/lossless", "A/tune"]
    assert "Monkey's Audio" in unread.loc["A/lossless", "detail"] and "not read" in unread.loc["A/lossless", "detail"]
    assert _rows(report, "unreadable_audio")["track_id"].tolist() == ["A/broken"]
    assert len(report) == 4  # the two above, A/broken, and lyrics.txt beside no song: nothing for the clutter
    assert _rows(report, "unmatched_lyrics")["track_id"].tolist() == ["A/lyrics"]


def _unprivileged(code: str) -> dict:
    """What ``code`` (Python printing JSON) prints when run by a user file modes bind: this user, or root without
    the capabilities that let it read every folder (``setpriv``: CI runs as root, which reads everything)."""
    lib = Path(songspace.__file__).resolve().parents[1]
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root reads every folder, and setpriv is missing to drop that")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(lib), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(prefix + [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def _load_unprivileged(root: Path) -> dict:
    """The songs (``ids``), report rows and listing of ``root`` as ``_unprivileged`` loads and validates it."""
    return _unprivileged(
        "import json; from songspace.data import collection; from songspace.data.loading import load_dataset\n"
        "from songspace.data.validation import validate\n"
        f"clean, report = validate(load_dataset({str(root)!r}), min_duration_s=0.5)\n"
        f"print(json.dumps(dict(ids=clean['track_id'].tolist(), rows=report.to_dict('records'), "
        f"listing=collection.listing({str(root)!r}))))")


def test_a_folder_the_user_cannot_read_is_a_row_and_the_rest_loads(tmp_path):
    root = tmp_path / "music"
    write_audio(root / "open" / "s1.wav", seconds=1.0)
    write_audio(root / "open" / "s2.wav", seconds=1.0, seed=1)
    write_audio(root / "locked" / "l1.wav", seconds=1.0, seed=2)
    write_audio(root / "locked" / "inner" / "l2.wav", seconds=1.0, seed=3)
    (root / "locked").chmod(0)
    try:
        got = _load_unprivileged(root)
    finally:
        (root / "locked").chmod(0o755)
    assert got["ids"] == ["open/s1", "open/s2"]
    (row,) = got["rows"]
    assert (row["track_id"], row["problem"], row["path"]) == ("locked", "unreadable_folder", str(root / "locked"))
    assert "Permission denied" in row["detail"] and "not read" in row["detail"]
    assert f"{root / 'locked'}\tunreadable" in got["listing"].splitlines()  # make's stamp sees it too


def test_a_folder_that_can_be_listed_but_not_entered_is_a_row_not_a_crash(tmp_path):
    """``chmod -R 644 ~/Music`` leaves folders whose names list but whose files cannot be opened."""
    root = tmp_path / "music"
    write_audio(root / "open" / "s1.wav", seconds=1.0)
    write_audio(root / "open" / "s2.wav", seconds=1.0, seed=1)
    write_audio(root / "listed" / "l1.wav", seconds=1.0, seed=2)
    (root / "listed").chmod(0o644)
    try:
        got = _load_unprivileged(root)
    finally:
        (root / "listed").chmod(0o755)
    assert got["ids"] == ["open/s1", "open/s2"]
    (row,) = got["rows"]
    assert (row["track_id"], row["problem"]) == ("listed", "unreadable_folder") and "not entered" in row["detail"]


@pytest.fixture
def no_hang():
    """Fail, not hang, when something opens a named pipe: opening one waits for a writer forever."""
    def stop(*_):  # pytest.fail's exception is no OSError nor Exception, which the loader's handlers catch
        pytest.fail("the load blocked: it opened a named pipe")
    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_pipes_and_sockets_are_rows_and_never_opened(tmp_path, no_hang):
    root = tmp_path / "music"
    for i in (1, 2, 3):
        write_audio(root / f"s{i}.wav", seconds=1.0, seed=i)
    os.mkfifo(root / "s1.txt")  # a sidecar
    os.mkfifo(root / "pipe.wav")  # an audio file
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock.flac"))
        (root / "s2.lrc").symlink_to(root / "s1.txt")  # a link to the pipe
        clean, report = validate(load_dataset(root), min_duration_s=0.5)
        assert "s1.txt" in collection.listing(root)
    assert clean["track_id"].tolist() == ["s1", "s2", "s3"] and clean["has_audio"].all()
    assert not clean["has_lyrics"].any()
    rows = _rows(report, "not_a_file").set_index("track_id")
    assert len(report) == len(rows) == 4
    assert rows.loc["pipe", "detail"] == "a named pipe (FIFO), not a regular file: never opened"
    assert rows.loc["pipe", "modality"] == "audio" and rows.loc["s1", "modality"] == "lyrics"
    assert rows.loc["sock", "detail"].startswith("a socket") and rows.loc["s2", "path"] == str(root / "s2.lrc")
    (root / "manifest.csv").write_text("track_id,audio_path,lyrics_path\ns3,s3.wav,s1.txt\n")
    clean, report = validate(load_dataset(root), min_duration_s=0.5)  # a manifest's pipe is not read either
    assert clean["has_audio"].all() and not clean["has_lyrics"].any() and len(report) == 1


def test_an_audio_file_the_user_cannot_read_is_a_row_also_when_decoding(tmp_path):
    root = tmp_path / "music"
    write_audio(root / "ok.wav", seconds=1.0)
    write_audio(root / "noperm.wav", seconds=1.0, seed=1).chmod(0)
    got = _unprivileged(
        "import json; from songspace.data.loading import load_dataset; from songspace.data.validation import validate\n"
        f"clean, report = validate(load_dataset({str(root)!r}), min_duration_s=0.5, check_silence=True)\n"
        "print(json.dumps(dict(ids=clean.loc[clean['has_audio'], 'track_id'].tolist(), "
        "rows=report.to_dict('records'))))")
    assert got["ids"] == ["ok"]
    (row,) = got["rows"]
    assert (row["track_id"], row["problem"]) == ("noperm", "unreadable_audio") and "permission" in row["detail"]
