"""Tags of every format become columns and labels; songs are named "artist – title"; each value says where
it came from (manifest > sidecar file > tag > file name)."""
import pandas as pd
import pytest
from songspace.data.loading import load_dataset
from songspace.data.tags import read_tags
from songspace.data.validation import validate

from tagged import write_audio, write_tags

FORMATS = [".mp3", ".wav", ".aiff", ".flac", ".ogg", ".m4a", ".opus", ".wma"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_each_format_tags_are_read(tmp_path, suffix):
    p = write_audio(tmp_path / f"a{suffix}", seconds=1.0)
    write_tags(p, title="Song", artist="Band", album="LP", genre=["Rock", "Pop"], date="1994-05-01",
               track="3/12", language="fra", lyrics="la la la")
    t = read_tags(str(p))
    assert (t["title"], t["artist"], t["album"], t["genre"], t["genres"]) == ("Song", "Band", "LP", "Rock", "Rock; Pop")
    assert (t["year"], t["decade"], t["track_number"], t["language"], t["lyrics"]) == (1994, "1990s", 3, "fra", "la la la")
    assert t["duration_s"] == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("date, year", [("20030512", 2003), ("c. 1999", 1999), ("03/05/1999", 1999), ("1999?", 1999),
                                        ("12345", None), ("Remastered 2011", 2011)])
def test_the_year_is_read_from_any_way_of_writing_a_date(date, year):
    from songspace.data.tags import fields_of

    assert fields_of({"date": [date]}).get("year") == year


def test_one_genre_string_is_split():
    from mutagen.flac import FLAC  # noqa: F401  (mutagen installed)
    from songspace.data.tags import fields_of

    assert fields_of({"genre": ["Rock; Pop/Indie"]})["genres"] == "Rock; Pop; Indie"


def _library(root, n_per_artist=3):
    """A plain folder of tagged MP3/M4A/FLAC files, two artists and two albums, no manifest."""
    songs = []
    for i, (suffix, artist, album) in enumerate([(".mp3", "Ann", "First"), (".m4a", "Ann", "First"),
                                                 (".flac", "Bob", "Second"), (".mp3", "Bob", "Second"),
                                                 (".m4a", "Ann", "Second"), (".flac", "Bob", "First")]):
        p = write_audio(root / f"{i:02d}{suffix}", seconds=1.0, seed=i)
        write_tags(p, title=f"Song {i}", artist=artist, album=album, genre="Jazz" if i % 2 else "Rock",
                   date=f"{1985 + 5 * i}")
        songs.append(p)
    return songs


def test_plain_tagged_folder_scores_artist_and_album_and_names_songs(tmp_path):
    _library(tmp_path / "lib")
    df = load_dataset(tmp_path / "lib")
    assert {"artist", "album", "genre", "decade"} <= set(df.attrs["label_columns"])
    t = df.set_index("track_id")
    assert t.loc["00", "display_name"] == "Ann \u2013 Song 0" and t.loc["01", "artist"] == "Ann"
    assert t.loc["01", "decade"] == "1990s" and t.loc["05", "year"] == 2010
    assert (df["title_source"] == "tag").all() and (df["artist_source"] == "tag").all()
    assert not {c for c in df.attrs["label_columns"] if c.endswith("_source") or c in ("year", "display_name")}


def test_precedence_manifest_then_sidecar_then_tag_then_file_name(tmp_path):
    root = tmp_path / "c"
    a = write_tags(write_audio(root / "a.mp3", seconds=1.0), artist="Tag Artist", title="Tag Title", lyrics="tag words")
    write_tags(write_audio(root / "b.flac", seconds=1.0, seed=1), title="Only Tag", lyrics="tag words b")
    write_audio(root / "plain.wav", seconds=1.0, seed=2)  # no tags: the file name is the title
    (root / "b.txt").write_text("sidecar words", encoding="utf-8")
    t = load_dataset(root).set_index("track_id")
    assert t.loc["a", "lyrics"] == "tag words" and t.loc["a", "lyrics_source"] == "tag"
    assert t.loc["b", "lyrics"] == "sidecar words" and t.loc["b", "lyrics_source"] == "sidecar"
    assert t.loc["plain", "title"] == "plain" and t.loc["plain", "title_source"] == "file name"
    assert t.loc["plain", "display_name"] == "plain" and t.loc["b", "display_name"] == "Only Tag"
    assert pd.isna(t.loc["plain", "lyrics_source"]) and not t.loc["plain", "has_lyrics"]
    # a manifest cell beats the tag; an empty cell is filled from it
    (root / "manifest.csv").write_text("track_id,audio_path,artist\na,a.mp3,Manifest Artist\nb,b.flac,\n"
                                       "p,plain.wav,\n", encoding="utf-8")
    m = load_dataset(root).set_index("track_id")
    assert m.loc["a", "artist"] == "Manifest Artist" and m.loc["a", "artist_source"] == "manifest"
    assert m.loc["a", "title"] == "Tag Title" and m.loc["a", "title_source"] == "tag"
    assert m.loc["a", "display_name"] == "Manifest Artist \u2013 Tag Title"
    assert m.loc["p", "display_name"] == "p"  # no artist, no title: the track_id
    clean, report = validate(load_dataset(root), min_duration_s=0.5)
    assert clean.set_index("track_id").loc["a", "has_lyrics"]  # tag lyrics are used when no file is named


def test_a_file_whose_tags_fail_keeps_its_audio_with_a_row(tmp_path, monkeypatch):
    from songspace.data import tags

    write_audio(tmp_path / "a.wav", seconds=1.0)
    write_audio(tmp_path / "b.wav", seconds=1.0, seed=1)

    def broken(t):
        raise ValueError("bad frame")

    monkeypatch.setattr(tags, "fields_of", broken)
    write_tags(tmp_path / "a.wav", title="x")
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    row = report.set_index("track_id").loc["a"]
    assert row["problem"] == "unreadable_tags" and row["kept"] and "bad frame" in row["detail"]
    assert clean["has_audio"].all()


def test_00s_tables_say_which_labels_and_where_values_came_from(tmp_path):
    from songspace.data import metadata

    _library(tmp_path / "lib")
    (tmp_path / "lib" / "00.txt").write_text("words", encoding="utf-8")
    df = load_dataset(tmp_path / "lib")
    labels = metadata.label_summary(df).set_index("label")
    assert labels.loc["artist", "classes"] == 2 and labels.loc["artist", "from"] == "tag 6"
    assert labels.loc["album", "largest_class"] == 3 and labels.loc["decade", "from"] == "tag 6"
    src = metadata.provenance(df).set_index("field")
    assert src.loc["title", "tag"] == 6 and src.loc["lyrics", "sidecar"] == 1 and src.loc["lyrics", "none"] == 5


def test_a_manifest_only_label_says_it_came_from_the_manifest(tmp_path):
    from songspace.data import metadata

    pd.DataFrame({"track_id": list("abcd"), "lyrics": ["la la", "oh oh", "na na", "yeah"],
                  "mood": ["calm", "calm", "wild", "wild"]}).to_csv(tmp_path / "m.csv", index=False)
    labels = metadata.label_summary(load_dataset(tmp_path / "m.csv")).set_index("label")
    assert labels.loc["mood", "from"] == "manifest 4"


def test_an_mp3_tagged_only_with_apev2_is_read(tmp_path):
    from mutagen.apev2 import APEv2

    p = write_audio(tmp_path / "ape.mp3", seconds=1.0)
    tag = APEv2()
    tag.update({"Title": "Song", "Artist": "Band", "Genre": "Rock", "Year": "1999", "Track": "4/10"})
    tag.save(str(p))
    t = read_tags(str(p))
    assert (t["title"], t["artist"], t["genre"], t["year"], t["track_number"]) == ("Song", "Band", "Rock", 1999, 4)
