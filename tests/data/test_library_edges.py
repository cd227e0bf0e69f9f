"""What a real library holds beside clean files: odd names, links, twin files, native WAV/AIFF tags, blank
sidecars, a manifest quote left open, a cut-off MP3. Each song comes in, or each problem is a named row."""
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from songspace.data import collection
from songspace.data.loading import load_dataset, write_interim
from songspace.data.validation import validate

from tagged import SR, tone, write_audio, write_tags


def _rows(report, problem):
    return report[report["problem"] == problem]


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="macOS file systems refuse names that are not UTF-8")
def test_a_name_that_is_not_utf8_is_a_row_and_the_rest_loads(tmp_path):
    root = tmp_path / "music"
    write_audio(root / "A" / "ok.wav", seconds=1.0)
    bad = os.path.join(os.fsencode(root / "A"), b"caf\xe9.wav")  # Latin-1 bytes, as an old Windows copy names it
    sf.write(bad, tone(1.0), SR)
    df = load_dataset(root)
    clean, report = validate(df, min_duration_s=0.5)
    assert clean["track_id"].tolist() == ["A/ok"]
    row = _rows(report, "bad_file_name").iloc[0]
    assert row["track_id"] == "A/caf\\xe9" and "not valid UTF-8" in row["detail"] and "rename" in row["detail"]
    write_interim(clean, report, tmp_path / "interim")  # Parquet and CSV take the report
    assert "caf\\xe9.wav" in collection.listing(root)  # the make stamp too


def test_manifest_quote_left_open_is_a_row_and_the_lines_after_it_are_read(tmp_path):
    for name in "abcde":
        write_audio(tmp_path / f"{name}.wav", seconds=1.0, seed=ord(name))
    (tmp_path / "manifest.csv").write_text(
        "track_id;audio_path;genre;lyrics\n"
        "a;a.wav;rock;\"first line\nsecond line\"\n"  # lines 2-3: a line break inside quotes, in lyrics: fine
        "b;b.wav;\"pop;\n"                           # line 4: the quote never closes in genre
        "c;c.wav;jazz;\n"
        "d;d.wav;folk;\n"
        "e;e.wav;soul;\"open to the end\n", encoding="utf-8")  # line 7: the file ends inside quotes
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    t = clean.set_index("track_id")
    assert sorted(t.index) == ["a", "c", "d"]
    assert t.loc["a", "lyrics"] == "first line\nsecond line" and t.loc["c", "genre"] == "jazz"
    bad = _rows(report, "bad_manifest_row").set_index("track_id")
    assert bad.loc["b", "detail"].startswith("line 4: a quote opened on this line is still open")
    assert "column genre" in bad.loc["b", "detail"]
    assert bad.loc["e", "detail"].startswith("line 7: a quote opened on this line is never closed")


def test_wav_and_aiff_native_tags_name_the_song(tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    with sf.SoundFile(root / "info.wav", "w", SR, 1) as f:  # a RIFF LIST/INFO chunk
        f.title, f.artist, f.album, f.genre, f.date = "Song", "Band", "Record", "Rock; Pop", "2004-05-01"
        f.write(tone(1.0))
    with sf.SoundFile(root / "native.aiff", "w", SR, 1, format="AIFF") as f:  # NAME and AUTH chunks
        f.title, f.artist = "Other", "Singer"
        f.write(tone(1.0, seed=1))
    write_audio(root / "id3.wav", seconds=1.0, seed=2)
    write_tags(root / "id3.wav", title="From ID3", artist="X")
    t = load_dataset(root).set_index("track_id")
    assert t.loc["info", ["title", "artist", "album", "genre"]].tolist() == ["Song", "Band", "Record", "Rock"]
    assert t.loc["info", "year"] == 2004 and t.loc["info", "title_source"] == "tag"
    assert t.loc["native", "display_name"] == "Singer \u2013 Other"
    assert t.loc["id3", "title"] == "From ID3"


def test_links_are_read_once_and_links_out_are_rows(tmp_path):
    root, outside = tmp_path / "music", tmp_path / "elsewhere"
    write_audio(root / "A" / "one.wav", seconds=1.0)
    write_audio(outside / "far.wav", seconds=1.0, seed=1)
    (root / "B_link").symlink_to(root / "A", target_is_directory=True)
    (root / "out_link").symlink_to(outside, target_is_directory=True)
    (root / "A" / "again.wav").symlink_to(root / "A" / "one.wav")
    clean, report = validate(load_dataset(root), min_duration_s=0.5)
    assert clean["track_id"].tolist() == ["A/one"]  # one song, at its real place
    by_id = report.set_index("track_id")
    assert by_id.loc["B_link", "problem"] == "folder_link" and by_id.loc["B_link", "kept"]
    assert by_id.loc["out_link", "problem"] == "folder_link" and not by_id.loc["out_link", "kept"]
    assert "outside the collection" in by_id.loc["out_link", "detail"]
    assert by_id.loc["A/again", "problem"] == "file_link" and "A/one.wav" in by_id.loc["A/again", "detail"]


def test_twin_names_with_two_formats_are_two_songs(tmp_path):
    write_audio(tmp_path / "twin.wav", seconds=1.0)
    write_audio(tmp_path / "twin.flac", seconds=1.0, seed=1)
    write_audio(tmp_path / "solo.flac", seconds=1.0, seed=2)
    (tmp_path / "twin.txt").write_text("shared words", encoding="utf-8")
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    assert sorted(clean["track_id"]) == ["solo", "twin.flac", "twin.wav"]
    assert _rows(report, "duplicate_id").empty
    assert (clean.set_index("track_id").loc[["twin.flac", "twin.wav"], "lyrics"] == "shared words").all()


def test_a_blank_sidecar_gives_way_to_embedded_lyrics(tmp_path):
    write_audio(tmp_path / "song.flac", seconds=1.0)
    write_tags(tmp_path / "song.flac", title="Song", lyrics="words from the tag")
    (tmp_path / "song.txt").write_bytes(b"")
    write_audio(tmp_path / "bare.flac", seconds=1.0, seed=1)
    (tmp_path / "bare.txt").write_text("  \n", encoding="utf-8")  # blank, and no tag to fall back on
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    t = clean.set_index("track_id")
    assert t.loc["song", "lyrics"] == "words from the tag" and t.loc["song", "lyrics_source"] == "tag"
    unused = _rows(report, "lyrics_file_unused").set_index("track_id")
    assert unused.loc["song", "kept"] and "blank" in unused.loc["song", "detail"]
    assert not t.loc["bare", "has_lyrics"]
    assert _rows(report, "empty_lyrics")["track_id"].tolist() == ["bare"]


def test_a_sidecar_in_any_case_is_found(tmp_path):
    write_audio(tmp_path / "mixed.wav", seconds=1.0)
    (tmp_path / "mixed.Txt").write_text("any case", encoding="utf-8")
    assert load_dataset(tmp_path).set_index("track_id").loc["mixed", "lyrics"] == "any case"


def test_a_cut_off_mp3_is_a_truncated_note_in_the_first_check(tmp_path):
    write_audio(tmp_path / "whole.mp3", seconds=6.0)
    data = (tmp_path / "whole.mp3").read_bytes()
    (tmp_path / "cut.mp3").write_bytes(data[: len(data) // 2])
    (tmp_path / "stub.mp3").write_bytes(data[: len(data) // 8])  # under a second survives
    clean, report = validate(load_dataset(tmp_path), min_duration_s=1.5)
    t = clean.set_index("track_id")
    assert t.loc["whole", "has_audio"] and t.loc["cut", "has_audio"] and not t.loc["stub", "has_audio"]
    rows = report.set_index("track_id")
    assert rows.loc["cut", "problem"] == "truncated" and rows.loc["cut", "kept"]
    assert np.isclose(float(rows.loc["cut", "detail"].split(" of ")[1].split(" s")[0]), 6.0, atol=0.3)
    assert rows.loc["stub", "problem"] == "unreadable_audio" and "truncated" in rows.loc["stub", "detail"]
    assert "whole" not in rows.index


def test_link_loops_and_broken_links_are_rows_not_crashes(tmp_path):
    write_audio(tmp_path / "ok.wav", seconds=1.0)
    (tmp_path / "loop1.mp3").symlink_to(tmp_path / "loop2.mp3")
    (tmp_path / "loop2.mp3").symlink_to(tmp_path / "loop1.mp3")
    (tmp_path / "gone_link.wav").symlink_to(tmp_path / "gone.wav")
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    assert clean.loc[clean["has_audio"], "track_id"].tolist() == ["ok"]
    rows = report.set_index("track_id")
    assert rows.loc["gone_link", "problem"] == "missing_file" and not rows.loc["gone_link", "kept"]
    assert {"loop1", "loop2"} <= set(rows.index)


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="macOS file systems refuse names that are not UTF-8")
def test_a_single_file_with_a_name_that_is_not_utf8_is_a_clear_error(tmp_path):
    from songspace.data.loading import DatasetError, load_file

    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.wav")
    sf.write(bad, tone(1.0), SR)
    with pytest.raises(DatasetError, match="not valid UTF-8; rename it"):
        load_file(os.fsdecode(bad))


def test_a_byte_identical_copy_is_a_kept_row_naming_its_original(tmp_path):
    """A copy under another name is a song of its own (kept) and a row that names the file it copies; a file
    of the same size with other bytes is not a copy."""
    import shutil

    first = write_audio(tmp_path / "A" / "song.wav", seconds=4.0, seed=0)
    shutil.copyfile(first, tmp_path / "A" / "song (copy).wav")
    write_audio(tmp_path / "B" / "other.wav", seconds=4.0, seed=1)  # same length and format: same size
    clean, report = validate(load_dataset(tmp_path), min_duration_s=1.0)
    assert clean["has_audio"].all() and len(clean) == 3
    dup = _rows(report, "duplicate_audio")
    assert len(dup) == 1 and dup["kept"].all()
    seen_first, flagged = sorted([str(first), str(tmp_path / "A" / "song (copy).wav")])  # listed in name order
    assert dup["path"].iloc[0] == flagged and seen_first in dup["detail"].iloc[0]


def test_an_untagged_album_rip_is_titled_without_its_track_numbers(tmp_path):
    """A ripped album's files are "01 Intro.wav", "02 99 Luftballons.wav": the titles drop the track numbers
    and keep a number that is part of the title. A folder whose names only happen to start with digits
    (bands' names, one song alone) keeps them; a title tag still wins, and the track ids stay the paths."""
    root = tmp_path / "music"
    for i, name in enumerate(["01 Intro", "02 99 Luftballons", "03 - Kick Three"]):
        write_audio(root / "Album" / f"{name}.wav", seconds=1.0, seed=i)
    write_tags(root / "Album" / "03 - Kick Three.wav", title="Kick 3 (tagged)")
    for i, name in enumerate(["2 Unlimited - No Limit", "4 Non Blondes - What's Up"]):
        write_audio(root / "Mix" / f"{name}.wav", seconds=1.0, seed=5 + i)
    write_audio(root / "Single" / "99 Luftballons.wav", seconds=1.0, seed=9)
    t = load_dataset(root).set_index("track_id")
    assert t.loc["Album/01 Intro", "title"] == "Intro" and t.loc["Album/02 99 Luftballons", "title"] == "99 Luftballons"
    assert t.loc["Album/03 - Kick Three", "title"] == "Kick 3 (tagged)"
    assert t.loc["Album/01 Intro", "title_source"] == "file name"
    assert t.loc["Mix/2 Unlimited - No Limit", "title"] == "2 Unlimited - No Limit"
    assert t.loc["Single/99 Luftballons", "title"] == "99 Luftballons"
    assert collection.titles_from_names(["1-01 A", "1-02 B", "2-01 C"]) == ["A", "B", "C"]
    for names in (["10 Years - X", "12 Stones - Y"], ["1 Giant Leap - My Culture", "2 Unlimited - No Limit"],
                  ["01 Intro", "99 Luftballons"], ["1.0", "2.0"]):
        assert collection.titles_from_names(names) == names


def test_a_mac_copy_decomposed_names_match_composed_sidecars_and_ids_are_composed(tmp_path):
    """macOS writes names decomposed (NFD); a lyrics downloader writes them composed (NFC). The two look the same:
    the lyrics are found, and ids, titles and folders are written composed, so a typed name finds the song."""
    import unicodedata

    nfd = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731
    folder = tmp_path / "music" / nfd("Ali Farka Touré")
    write_audio(folder / f"{nfd('03 ファースト・ラヴ')}.wav", seconds=1.0)
    (folder / "03 ファースト・ラヴ.lrc").write_text("[00:01.00]kotoba", encoding="utf-8")  # composed
    (folder / "._03 ファースト・ラヴ.lrc").write_bytes(b"\x00\x05\x16\x07")  # an AppleDouble fork: not lyrics
    clean, report = validate(load_dataset(tmp_path / "music"), min_duration_s=0.5)
    row = clean.iloc[0]
    assert row["track_id"] == "Ali Farka Touré/03 ファースト・ラヴ" and row["folder"] == "Ali Farka Touré"
    assert row["lyrics"] == "kotoba" and row["lyrics_source"] == "sidecar"
    assert all(unicodedata.is_normalized("NFC", s) for s in (row["track_id"], row["folder"], row["title"]))
    assert os.path.exists(row["audio_path"])  # the path stays the one on disk
    assert report.empty


def test_a_lyrics_file_beside_no_audio_of_its_name_is_a_row(tmp_path):
    write_audio(tmp_path / "A" / "song.wav", seconds=1.0)
    (tmp_path / "A" / "song.txt").write_text("words", encoding="utf-8")
    (tmp_path / "A" / "sogn.lrc").write_text("[00:01.00]typo in the name", encoding="utf-8")
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    assert clean.set_index("track_id").loc["A/song", "lyrics"] == "words"
    row = _rows(report, "unmatched_lyrics").iloc[0]
    assert row["track_id"] == "A/sogn" and row["modality"] == "lyrics" and not row["kept"]
    assert row["path"].endswith("sogn.lrc") and "no audio file of the same name" in row["detail"]


def test_a_song_left_out_of_everything_has_no_label_gap_rows(tmp_path):
    """An empty file is an unreadable_audio row; it is scored on nothing, so no missing_label rows follow it."""
    write_audio(tmp_path / "A" / "one.wav", seconds=1.0, seed=0)
    write_audio(tmp_path / "B" / "two.wav", seconds=1.0, seed=1)
    write_audio(tmp_path / "B" / "three.wav", seconds=1.0, seed=2)
    (tmp_path / "loose.mp3").write_bytes(b"")  # no folder: no label, and no audio
    write_audio(tmp_path / "stray.wav", seconds=1.0, seed=3)  # no folder: a label gap of a kept song
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    assert _rows(report, "unreadable_audio")["track_id"].tolist() == ["loose"]
    assert _rows(report, "missing_label")["track_id"].tolist() == ["stray"]
