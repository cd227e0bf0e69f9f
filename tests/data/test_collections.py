"""A user's own collection: plain folders, one-modality manifests, no labels, bad input of every kind.

Unit tests here are fast; the pipeline runs (00 -> 06 on each shape, and the README's make route)
are in ``test_collections_pipeline.py``.
"""
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from songspace import cache
from songspace.data import collection, plan, synthetic
from songspace.data.loading import DatasetError, load_dataset
from songspace.data.validation import validate

SR = 22050


def _wav(path: Path, seconds: float = 4.0, sr: int = SR, channels: int = 1, amp: float = 0.3, seed: int = 0,
         subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    y = amp * np.random.default_rng(seed).uniform(-1, 1, (int(seconds * sr), channels))
    sf.write(path, y.astype(np.float32), sr, subtype=subtype)
    return path


def tree_hashes(folder: Path) -> dict:
    """Relative path -> (sha256, mode) of every file and folder under ``folder``: proof nothing changed."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = (cache.file_hash(p) if p.is_file() else "dir", p.stat().st_mode)
    return out


# ---------------------------------------------------------------- plain folders

def test_scan_folder_ids_lyrics_and_folder_label(tmp_path):
    root = tmp_path / "music"
    _wav(root / "rock" / "a.wav")
    _wav(root / "rock" / "deep" / "b.flac", seed=1)
    _wav(root / "jazz" / "c.wav", seed=2)
    _wav(root / "loose.wav", seed=3)
    _wav(root / ".hidden" / "x.wav", seed=4)
    (root / "rock" / "a.txt").write_text("line one\nline two\n", encoding="utf-8")
    (root / "jazz" / "c.lrc").write_text("[ar:Someone]\n[00:01.00]first <00:01.50>word\n[00:02.10]second\n",
                                         encoding="utf-8")
    (root / "notes.pdf").write_bytes(b"%PDF")
    df = load_dataset(root)
    t = df.set_index("track_id")
    assert list(t.index) == ["jazz/c", "loose", "rock/a", "rock/deep/b"]  # hidden folder and non-audio skipped
    assert t["folder"].tolist()[:1] == ["jazz"] and pd.isna(t.loc["loose", "folder"])
    assert t.loc["rock/a", "lyrics"] == "line one\nline two\n"
    assert t.loc["jazz/c", "lyrics"] == "first word\nsecond"  # LRC stamps and tags stripped
    assert not t.loc["loose", "has_lyrics"] and t["has_audio"].all()
    assert df.attrs["layout"] == "folder" and df.attrs["label_columns"] == ["folder"]


def test_folder_without_audio_names_the_folder(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DatasetError, match=r"no audio files"):
        load_dataset(tmp_path)


def test_label_detection_rules():
    df = pd.DataFrame({"track_id": list("abcdef"), "title": ["t", "t", "u", "v", "w", "x"],
                       "genre": ["rock", "rock", "jazz", None, "", "pop"], "year": list("123456"),
                       "const": ["x"] * 6, "artist": ["A", "A", "B", "C", "D", "E"], "_private": ["p"] * 6})
    assert collection.detect_label_columns(df) == ["genre", "artist"]
    assert collection.detect_label_columns(df, ["year"]) == ["year"]
    with pytest.raises(KeyError, match="mood"):
        collection.detect_label_columns(df, ["mood"])


def test_listing_changes_with_the_files_only(tmp_path):
    root = tmp_path / "c"
    _wav(root / "a.wav")
    first = collection.listing(root)
    assert collection.listing(root) == first
    stamp = tmp_path / "stamp"
    assert collection.write_if_changed(stamp, first)
    mtime = stamp.stat().st_mtime_ns
    assert not collection.write_if_changed(stamp, collection.listing(root)) and stamp.stat().st_mtime_ns == mtime
    (root / "manifest.csv").write_text("track_id,audio_path\na,a.wav\n")
    assert collection.listing(root) != first  # a new or edited manifest re-runs the data stage


def test_stamp_cli_names_a_missing_collection(tmp_path, capsys):
    assert collection.main(["stamp", str(tmp_path / "nope"), str(tmp_path / "s")]) == 2
    assert "nope: no such collection folder" in capsys.readouterr().err


# ---------------------------------------------------------------- manifests

@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\x00\x01binary\x00" * 40, "not a CSV text file"),
    ("track_id,genre\n".encode(), "'audio_path' and/or 'lyrics_path'"),
    (b"track_id,audio_path\n", "header but no rows"),
    ("piste,fichier\ncafé,a.wav\n".encode("cp1252"), "not UTF-8"),
    (b"id,file\na,a.wav\n", "missing required column 'track_id'"),
])
def test_bad_manifests_name_the_file(tmp_path, content, message):
    csv = tmp_path / "manifest.csv"
    csv.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as e:
        load_dataset(tmp_path)
    assert str(csv) in str(e.value)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_manifest_separators_are_recognised(tmp_path, sep):
    _wav(tmp_path / "a.wav")
    _wav(tmp_path / "b.wav", seed=1)
    (tmp_path / "manifest.csv").write_text(sep.join(["track_id", "audio_path", "genre"]) + "\n"
                                           + sep.join(["a", "a.wav", "x"]) + "\n" + sep.join(["b", "b.wav", "x"]) + "\n")
    df = load_dataset(tmp_path)
    assert df["has_audio"].all() and df["genre"].tolist() == ["x", "x"]


def test_manifest_with_some_lyrics_cells_empty(tmp_path):
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "a.txt").write_text("words here")
    pd.DataFrame({"track_id": ["a", "b"], "lyrics_path": ["l/a.txt", ""], "audio_path": ["", ""]}).to_csv(
        tmp_path / "manifest.csv", index=False)
    clean, report = validate(load_dataset(tmp_path))
    assert clean["has_lyrics"].tolist() == [True, False] and report.empty


# ---------------------------------------------------------------- every bad case in one collection

def make_bad_collection(root: Path, outside: Path) -> dict:
    """A manifest collection holding one track per bad case plus good ones; returns case -> expected
    (modality, problem, words of the detail). ``outside`` receives files the manifest must never read."""
    rng = np.random.default_rng(7)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text("TOP SECRET lyrics outside the collection")
    _wav(outside / "outside.wav")
    src = synthetic.make_synthetic(root.parent / ".bad_source", n_per_cell=1, genres=("drone", "fourfloor"),
                                   languages=("en", "fr", "de"), duration_s=4.0, sr=16000, seed=3)
    good = pd.read_csv(src)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "lyrics").mkdir(parents=True, exist_ok=True)
    rows = []
    for r in good.itertuples():  # six good tracks: enough to cluster
        for rel in (r.audio_path, r.lyrics_path):
            (root / rel).write_bytes((src.parent / rel).read_bytes())
        rows.append(dict(track_id=r.track_id, audio_path=r.audio_path, lyrics_path=r.lyrics_path, genre=r.genre,
                         language=r.language, mood="calm" if r.Index % 2 else "wild"))
    expected = {}

    def add(tid, audio="", lyrics="", genre="drone", language="en", expect=None):
        rows.append(dict(track_id=tid, audio_path=audio, lyrics_path=lyrics, genre=genre, language=language,
                         mood="calm"))
        if expect:
            expected[tid] = expect

    lyr = rows[0]["lyrics_path"]
    y = np.random.default_rng(1).uniform(-0.5, 0.5, 16000 * 4).astype(np.float32)
    burst = y.copy()
    burst[8000:8100] = np.nan
    burst[9000:9010] = np.inf
    sf.write(root / "audio" / "burst.wav", burst, 16000, subtype="FLOAT")
    add("nan_burst", "audio/burst.wav", lyr, expect=("audio", "nonfinite_samples", "NaN or infinite"))
    sparse = y.copy()
    sparse[::97] = np.nan
    sf.write(root / "audio" / "sparse.wav", sparse, 16000, subtype="FLOAT")
    add("sparse_nan", "audio/sparse.wav", lyr, expect=("audio", "nonfinite_samples", "NaN or infinite"))
    (root / "audio" / "corrupt.mp3").write_bytes(b"ID3" + rng.bytes(3000))
    add("corrupt_mp3", "audio/corrupt.mp3", lyr, expect=("audio", "unreadable_audio", "not a decodable audio file"))
    full = root / "audio" / "full.wav"
    _wav(full, 4.0, 16000)
    (root / "audio" / "truncated.wav").write_bytes(full.read_bytes()[:2000])
    # its RIFF header states 4 s: cut to less than the minimum, as 01's decode says it
    add("truncated", "audio/truncated.wav", lyr, expect=("audio", "unreadable_audio", "0.1 of 4.0 s decoded"))
    _wav(root / "audio" / "silent.wav", 4.0, 16000, amp=0.0)
    add("silent", "audio/silent.wav", lyr, expect=("audio", "silent_audio", "dBFS"))
    _wav(root / "audio" / "short.wav", 0.5, 16000)
    add("short", "audio/short.wav", lyr, expect=("audio", "too_short", "0.50 s"))
    _wav(root / "audio" / "stereo.wav", 4.0, 16000, channels=6)
    add("six_channels", "audio/stereo.wav", lyr)  # mixed to mono: fine
    _wav(root / "audio" / "phone.wav", 4.0, 8000)
    add("eight_khz", "audio/phone.wav", lyr, expect=("audio", "low_sample_rate", "8000 Hz (kept"))
    (root / "audio" / "a_folder.wav").mkdir()
    add("dir_audio", "audio/a_folder.wav", lyr, expect=("audio", "not_a_file", "is a directory"))
    (root / "audio" / "song.m4a").write_bytes(rng.bytes(2000))
    add("m4a", "audio/song.m4a", lyr, expect=("audio", "unreadable_audio", "not a decodable audio file"))
    add("missing_audio", "audio/not_there.wav", lyr, expect=("audio", "missing_file", "not found"))
    add("escape_audio", "../outside/outside.wav", lyr, expect=("audio", "outside_collection", "outside the collection"))
    add("escape_lyrics", "", "../outside/secret.txt", expect=("lyrics", "outside_collection", "outside the collection"))
    add("etc_passwd", "", "../../../../../../../../etc/passwd",
        expect=("lyrics", "outside_collection", "outside the collection"))
    (root / "lyrics" / "blank.txt").write_text(" \n\n")
    add("empty_lyrics", "", "lyrics/blank.txt", expect=("lyrics", "empty_lyrics", "blank"))
    (root / "lyrics" / "latin1.txt").write_bytes("café été".encode("cp1252"))
    add("latin1_lyrics", "", "lyrics/latin1.txt", expect=("lyrics", "lyrics_encoding", "decoded as cp1252"))
    (root / "lyrics" / "binary.txt").write_bytes(b"\x00\x81\xfe" * 20)
    add("binary_lyrics", "", "lyrics/binary.txt", expect=("lyrics", "undecodable_lyrics", "binary"))
    (root / "lyrics" / "huge.txt").write_text("la " * 200_000)
    add("huge_lyrics", "", "lyrics/huge.txt", expect=("lyrics", "oversized_lyrics", "not song lyrics"))
    (root / "lyrics" / "a_folder.txt").mkdir()
    add("dir_lyrics", "", "lyrics/a_folder.txt", expect=("lyrics", "not_a_file", "is a directory"))
    add("missing_lyrics", "", "lyrics/gone.txt", expect=("lyrics", "missing_file", "not found"))
    add(rows[1]["track_id"], rows[1]["audio_path"], lyr, expect=None)  # a duplicate id
    expected[f"{rows[1]['track_id']}#dup"] = ("track", "duplicate_id", "first kept")
    add("no_genre", rows[2]["audio_path"], lyr, genre="", expect=("label", "missing_label", "'genre'"))
    df = pd.DataFrame(rows)
    df["extra_notes"] = "free text " + df.index.astype(str)  # an extra column that is no label
    df.to_csv(root / "manifest.csv", index=False)
    return expected


def mark_unread(folder: Path) -> None:
    """Set every file's access time to 0, so ``was_read`` can tell later whether any process read it
    (the file system updates atime on a read when it is older than mtime: relatime)."""
    import time

    for p in folder.rglob("*"):
        if p.is_file():
            os.utime(p, (0, time.time()))


def was_read(folder: Path) -> list[str]:
    """Files under ``folder`` read by any process since ``mark_unread`` (checked to work first)."""
    control = folder / ".control"
    control.write_text("x")
    mark_unread(folder)
    control.read_text()
    assert control.stat().st_atime > 0, "this file system does not record reads (noatime): cannot check"
    control.unlink()
    return [str(p) for p in folder.rglob("*") if p.is_file() and p.stat().st_atime > 0]



def test_every_bad_case_is_a_named_row_and_nothing_outside_is_opened(tmp_path):
    root, outside = tmp_path / "collection", tmp_path / "outside"
    expected = make_bad_collection(root, outside)
    before = tree_hashes(root)
    mark_unread(outside)
    opened, recording = [], [True]

    def hook(event, args):
        if recording[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)  # audit hooks cannot be removed: this one stops recording below
    df = load_dataset(root)
    clean, report = validate(df, min_duration_s=1.0)
    recording[0] = False
    got = {}
    for r in report.itertuples():
        key = f"{r.track_id}#dup" if r.problem == "duplicate_id" else r.track_id
        got.setdefault(key, []).append((r.modality, r.problem, r.detail))
    for tid, (modality, problem, words) in expected.items():
        rows = got.get(tid, [])
        assert any(m == modality and p == problem and words in d for m, p, d in rows), (tid, rows)
    # the loud file with sparse NaNs is damaged, never "silent"
    assert all(p != "silent_audio" for _, p, _ in got["sparse_nan"])
    c = clean.set_index("track_id")
    assert c.loc["six_channels", "has_audio"] and c.loc["eight_khz", "has_audio"]
    assert not c.loc["nan_burst", "has_audio"] and not c.loc["escape_audio", "has_audio"]
    assert "secret" not in " ".join(clean["lyrics"].dropna())
    outside_opened = [p for p in opened if Path(p).resolve().is_relative_to(outside.resolve()) or p.startswith("/etc/passwd")]
    assert not outside_opened  # Python-level opens
    assert not [p for p in outside.rglob("*") if p.is_file() and p.stat().st_atime > 0]  # C-level reads too
    assert tree_hashes(root) == before


def test_plan_of_each_shape(tmp_path):
    for shape, expect in [("folder", dict(labels=["folder"], audio=True, lyrics=True, cvae=True)),  # language read
                          ("audio_only", dict(labels=["genre"], audio=True, lyrics=False, cvae=False)),
                          ("lyrics_only", dict(labels=["language", "genre"], audio=False, lyrics=True, cvae=True)),
                          ("no_labels", dict(labels=[], audio=True, lyrics=True, cvae=False))]:
        folder = synthetic.make_shape(tmp_path / shape, shape, n_per_cell=1, duration_s=2.0)
        clean, _ = validate(load_dataset(folder), min_duration_s=1.0)
        p = plan.Plan.of(clean)
        assert p.labels == expect["labels"], shape
        assert (p.has_audio, p.has_lyrics, p.runs("cvae")) == (expect["audio"], expect["lyrics"], expect["cvae"]), shape
        assert p.runs("multimodal_vae") == (expect["audio"] and expect["lyrics"]), shape
        assert ("external_metrics" in p.skipped) == (not expect["labels"]), shape
    tiny = synthetic.make_shape(tmp_path / "three", "audio_only", n_per_cell=1, duration_s=2.0, genres=("drone",))
    p = plan.Plan.of(validate(load_dataset(tiny), min_duration_s=1.0)[0])
    assert not p.can_cluster and "too few" in p.why()


def test_cvae_needs_its_condition_on_half_the_songs():
    """A condition known for a sliver of the songs leaves the rest with an all-zero condition: no CVAE."""
    def tracks(n_known):
        lang = ["en", "fr"] * (n_known // 2) + [None] * (20 - n_known)
        return pd.DataFrame({"has_audio": [True] * 20, "has_lyrics": [True] * 20,
                             "language": pd.Series(lang, dtype="str")})

    sliver = plan.Plan.of(tracks(4))
    assert not sliver.runs("cvae") and "only 4 of the 20 usable songs" in sliver.why("cvae")
    assert plan.Plan.of(tracks(6)).runs("cvae")


def test_stale_temp_files_of_a_dead_process_are_removed(tmp_path):
    import subprocess

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".tracks.parquet.{pid}-abc123.tmp"
    mine = tmp_path / f"{cache.temp_prefix('tracks.parquet')}xyz.tmp"
    for p in (stale, mine):
        p.write_bytes(b"half")
    assert cache.remove_stale_temps(tmp_path) == [stale]
    assert mine.exists() and not stale.exists()


@pytest.mark.parametrize("args, source, name", [
    ([], "{data}/raw/jamendolyrics", "jamendolyrics"),
    (["DATASET=mine"], "{data}/raw/mine", "mine"),
    (["DATASET_PATH={tmp}/My Music"], "{tmp}/My Music", "My_Music"),  # a name that is safe in paths
    (["DATASET_PATH={tmp}/My Music/manifest.csv"], "{tmp}/My Music/manifest.csv", "My_Music"),
])
def test_make_routes_name_the_source_and_dataset(tmp_path, args, source, name):
    """`make all`'s dry run reads the collection named by DATASET_PATH, else data/raw/<DATASET>."""
    import subprocess

    (tmp_path / "My Music").mkdir()
    (tmp_path / "My Music" / "manifest.csv").write_text("track_id,audio_path\n")
    data = tmp_path / "data"
    fill = {"tmp": str(tmp_path), "data": str(data)}
    cmd = ["make", "-n", "all", f"DATA={data}", f"RESULTS={tmp_path / 'res'}", *[a.format(**fill) for a in args]]
    out = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                         env={**os.environ, "MAKEFLAGS": ""}).stdout
    assert f'collection stamp "{source.format(**fill)}" {data}/interim/{name}/source.listing' in out
