"""What a folder's listing takes in: names that start with ".", every audio format the decoder reads, folders the
user cannot read, files that are no regular files. Each file is a song, or a named row, or clutter the scan
passes over on purpose (system folders, AppleDouble files, cover art); ``listing`` (make's stamp) agrees."""
from pathlib import Path

from songspace.data import collection
from songspace.data.loading import load_dataset
from songspace.data.validation import validate

from tagged import write_audio

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
