"""Loading and validating datasets: every kind of bad track is reported, the batch goes on."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from songspace import cli
from songspace.data import validation
from songspace.data.loading import (
    DatasetError,
    load_dataset,
    read_tracks,
    write_interim,
)
from songspace.data.validation import class_counts, report_summary, validate

SR = 8000


def _wav(path: Path, seconds: float, amp: float = 0.3, seed: int = 0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    y = amp * np.random.default_rng(seed).uniform(-1, 1, int(seconds * SR))
    sf.write(path, y.astype(np.float32), SR, subtype="PCM_16")
    return str(path.relative_to(path.parents[1]))


def _txt(path: Path, content: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path.relative_to(path.parents[1]))


@pytest.fixture
def messy(tmp_path) -> Path:
    """A manifest with one track per problem, plus good ones."""
    d = tmp_path / "ds"
    rng = np.random.default_rng(1)
    good_lyr = _txt(d / "lyrics" / "good.txt", "Héllo wörld\nla la\n".encode())
    rows = [
        dict(track_id="good", audio_path=_wav(d / "audio" / "good.wav", 4), lyrics_path=good_lyr, genre="a", language="en"),
        dict(track_id="good", audio_path=_wav(d / "audio" / "dup.wav", 4), lyrics_path=good_lyr, genre="a", language="en"),
        dict(track_id="corrupt_wav", audio_path=_txt(d / "audio" / "corrupt.wav", rng.bytes(4000)),
             lyrics_path=good_lyr, genre="a", language="en"),
        dict(track_id="corrupt_mp3", audio_path=_txt(d / "audio" / "corrupt.mp3", rng.bytes(4000)),
             lyrics_path=good_lyr, genre="b", language="fr"),
        dict(track_id="empty_wav", audio_path=_txt(d / "audio" / "empty.wav", b""), lyrics_path=good_lyr, genre="b", language="fr"),
        dict(track_id="silent", audio_path=_wav(d / "audio" / "silent.wav", 4, amp=0.0), lyrics_path=good_lyr, genre="b", language="fr"),
        dict(track_id="short", audio_path=_wav(d / "audio" / "short.wav", 1), lyrics_path=good_lyr, genre="b", language="fr"),
        dict(track_id="no_file", audio_path="audio/not_there.wav", lyrics_path=good_lyr, genre="b", language="fr"),
        dict(track_id="blank_lyr", audio_path=_wav(d / "audio" / "b.wav", 4), lyrics_path=_txt(d / "lyrics" / "blank.txt", b" \n\n"),
             genre="a", language="de"),
        dict(track_id="latin1_lyr", audio_path=_wav(d / "audio" / "c.wav", 4), lyrics_path=_txt(d / "lyrics" / "l1.txt", "café été".encode("cp1252")),
             genre="a", language="de"),
        dict(track_id="no_lyr_file", audio_path=_wav(d / "audio" / "e.wav", 4), lyrics_path="lyrics/gone.txt", genre="a", language="de"),
        dict(track_id="no_genre", audio_path=_wav(d / "audio" / "f.wav", 4), lyrics_path=good_lyr, genre="", language="de"),
        dict(track_id="lyrics_only", audio_path="", lyrics_path=good_lyr, genre="a", language="en"),
    ]
    pd.DataFrame(rows).to_csv(d / "manifest.csv", index=False)
    return d


def test_manifest_every_problem_reported_and_batch_goes_on(messy):
    df = load_dataset(messy / "manifest.csv")
    assert len(df) == 13 and df.attrs["label_columns"] == ["language", "genre"]
    assert df["audio_path"].dropna().map(lambda p: Path(p).is_absolute()).all()
    assert pd.isna(df.set_index("track_id").loc["lyrics_only", "audio_path"])

    clean, report = validate(df, min_duration_s=3.0)
    assert list(report.columns) == ["track_id", "modality", "problem", "detail", "path", "kept"]
    notes = report[report["problem"] == "low_sample_rate"]  # the 8 kHz test files: kept, with a note
    assert len(notes) and notes["kept"].all() and notes["detail"].str.contains("8000 Hz").all()
    got = {(r.track_id, r.modality, r.problem) for r in report.drop(notes.index).itertuples()}
    assert got == {
        ("good", "track", "duplicate_id"),
        ("corrupt_wav", "audio", "unreadable_audio"),
        ("corrupt_mp3", "audio", "unreadable_audio"),
        ("empty_wav", "audio", "unreadable_audio"),
        ("silent", "audio", "silent_audio"),
        ("short", "audio", "too_short"),
        ("no_file", "audio", "missing_file"),
        ("blank_lyr", "lyrics", "empty_lyrics"),
        ("latin1_lyr", "lyrics", "lyrics_encoding"),  # cp1252, the stated fallback: kept, with a row
        ("no_lyr_file", "lyrics", "missing_file"),
        ("no_genre", "label", "missing_label"),
        # the same 4-s tone written to five files: the later four are byte-identical copies of good.wav (kept)
        *{(t, "audio", "duplicate_audio") for t in ("blank_lyr", "latin1_lyr", "no_lyr_file", "no_genre")},
    }
    dups = report[report["problem"] == "duplicate_audio"]
    assert dups["kept"].all() and dups["detail"].str.contains("good.wav").all()
    c = clean.set_index("track_id")
    assert len(clean) == 12 and c.index.is_unique
    assert Path(c.loc["good", "audio_path"]).name == "good.wav"  # the first duplicate is the one kept
    bad_audio = {"corrupt_wav", "corrupt_mp3", "empty_wav", "silent", "short", "no_file", "lyrics_only"}
    assert set(c.index[~c["has_audio"]]) == bad_audio
    assert set(c.index[~c["has_lyrics"]]) == {"blank_lyr", "no_lyr_file"}
    assert c.loc["good", "lyrics"] == "Héllo wörld\nla la\n"
    # the missing audio row points at the file; the summary counts it
    assert report.set_index("track_id").loc["no_file", "path"].endswith("not_there.wav")
    s = report_summary(report)
    assert s.loc["unreadable_audio", "audio"] == 3 and s.loc["missing_file", "lyrics"] == 1


def test_check_silence_off_skips_decoding(messy):
    _, report = validate(load_dataset(messy), check_silence=False)
    assert "silent_audio" not in set(report["problem"])


@pytest.mark.parametrize("drop, named", [(["track_id"], "'track_id'"), (["audio_path", "lyrics_path"], "'audio_path'")])
def test_manifest_missing_required_column_names_file_and_column(tmp_path, drop, named):
    cols = {"track_id": ["a"], "audio_path": ["a.wav"], "lyrics_path": ["a.txt"], "genre": ["x"]}
    for c in drop:
        del cols[c]
    csv = tmp_path / "my_manifest.csv"
    pd.DataFrame(cols).to_csv(csv, index=False)
    with pytest.raises(DatasetError, match=rf"my_manifest\.csv.*{named}"):
        load_dataset(csv)


@pytest.mark.parametrize("keep", ["audio_path", "lyrics_path"])
def test_manifest_with_one_modality_loads(tmp_path, keep):
    _wav(tmp_path / "audio" / "a.wav", 4)
    _txt(tmp_path / "lyrics" / "a.txt", b"la la")
    cols = {"track_id": ["a"], "audio_path": ["audio/a.wav"], "lyrics_path": ["lyrics/a.txt"]}
    pd.DataFrame({"track_id": cols["track_id"], keep: cols[keep]}).to_csv(tmp_path / "m.csv", index=False)
    clean, _ = validate(load_dataset(tmp_path / "m.csv"))
    assert clean["has_audio"].tolist() == [keep == "audio_path"] and clean["has_lyrics"].tolist() == [keep == "lyrics_path"]


def test_inline_lyrics_and_extra_labels(tmp_path):
    _wav(tmp_path / "audio" / "x.wav", 4)
    pd.DataFrame({"track_id": ["x", "y", "z", "w"], "audio_path": ["audio/x.wav", "", "", ""],
                  "lyrics": ["ein Lied", "", "", ""], "mood": ["calm", "NA", "NA", "calm"],
                  "language": ["de", "de", "fr", "fr"], "title": ["A", "B", "B", "C"],
                  "year": ["1999", "2001", "1987", "1975"]}).to_csv(tmp_path / "m.csv", index=False)
    df = load_dataset(tmp_path / "m.csv")
    # year is unique per song and title is never a label: neither groups songs
    assert df.attrs["label_columns"] == ["language", "mood"]
    assert df.set_index("track_id")["mood"].tolist() == ["calm", "NA", "NA", "calm"]  # the string "NA" is a label
    clean, report = validate(df)
    # y, z, w have no audio and no lyrics by design: absent, not a problem; x is an 8 kHz file: a note
    assert report[["track_id", "problem", "kept"]].values.tolist() == [["x", "low_sample_rate", True]]
    assert clean["has_audio"].tolist() == [True, False, False, False]
    assert clean["has_lyrics"].tolist() == [True, False, False, False]


def test_no_usable_track_names_the_dataset_and_each_file(tmp_path):
    _txt(tmp_path / "audio" / "bad.wav", b"not audio at all")
    pd.DataFrame({"track_id": ["a"], "audio_path": ["audio/bad.wav"], "lyrics_path": [""]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(DatasetError, match=r"m\.csv.*no usable track") as e:
        validate(load_dataset(tmp_path / "m.csv"))
    assert "bad.wav: unreadable_audio (" in str(e.value)  # no report is written: the error names the files


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="no audio files"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such"):
        load_dataset(tmp_path / "nope")


def test_interim_round_trip_and_cli(messy, tmp_path, capsys):
    clean, report = validate(load_dataset(messy))
    write_interim(clean, report, tmp_path / "interim")
    back = read_tracks(tmp_path / "interim")
    pd.testing.assert_frame_equal(back, clean)
    assert back.attrs["label_columns"] == ["language", "genre"]
    assert len(pd.read_csv(tmp_path / "interim" / "validation.csv")) == len(report)
    assert not list((tmp_path / "interim").glob(".*tmp"))  # atomic: no temp file left
    assert cli.main(["scan", str(messy), "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "unreadable_audio" in out and "tracks.parquet" in out


def test_real_jamendolyrics_copy(jamendo_src):
    df = load_dataset(jamendo_src)
    assert len(df) == 79 and df["track_id"].is_unique
    assert df["has_audio"].sum() == 10 and df["has_lyrics"].all()
    assert df["language"].value_counts().to_dict() == {"English": 20, "German": 20, "Spanish": 20, "French": 19}
    # musical groups are labels; licence and annotation flags stay columns, scored only when named
    assert df.attrs["label_columns"] == ["language", "genre", "artist"]
    assert {"license", "lyric_overlap", "polyphonic", "non_lexical"} <= set(df.columns)
    t = df.set_index("track_id")
    assert t.loc["Séculaire_feat._Nÿme_-_saru", "has_audio"]  # non-ASCII name built from the CSV
    assert t.loc["¡Óyeme_tiburón!_-_Corrientes", "has_lyrics"]

    clean, report = validate(df)  # decodes the 10 real mp3s to their end
    assert clean["has_audio"].sum() == 10 and clean["has_lyrics"].all() and len(clean) == 79
    assert set(report["problem"]) == {"missing_file"} and len(report) == 69
    assert report["detail"].str.startswith(validation.NOT_IN_COPY).all()
    s = report_summary(report)
    assert s.loc[f"missing_file ({validation.NOT_IN_COPY})", "audio"] == 69
    summ = class_counts(clean).set_index(["by", "value"])
    assert summ.loc[("all", "all"), "audio"] == 10 and summ.loc[("language", "French"), "tracks"] == 19


def test_validation_and_feature_extraction_share_one_silence_threshold():
    from songspace.features.audio import AudioParams

    assert validation.SILENCE_DB == AudioParams().silence_db


def test_a_label_shared_only_with_a_dropped_duplicate_is_no_label(tmp_path):
    # the duplicate track_id row shares its album with one song; once it is dropped every album has one song
    for i in range(4):
        sf.write(tmp_path / f"s{i}.wav", np.random.default_rng(i).uniform(-0.5, 0.5, 16000 * 4), 16000)
    pd.DataFrame({"track_id": ["a", "b", "c", "d", "a"], "audio_path": ["s0.wav", "s1.wav", "s2.wav", "s3.wav", "s1.wav"],
                  "genre": ["x", "x", "y", "y", "x"], "album": ["p", "q", "r", "s", "q"]}).to_csv(tmp_path / "m.csv", index=False)
    from songspace.data import loading

    df = loading.load_dataset(tmp_path / "m.csv")
    assert "album" in df.attrs["label_columns"]  # detected on the rows as loaded
    out, report = validation.validate(df)
    assert out.attrs["label_columns"] == ["genre"] and "duplicate_id" in set(report["problem"])


def test_a_duplicate_id_row_names_its_manifest_line_and_a_named_label_is_kept(tmp_path, caplog):
    for i in range(4):
        sf.write(tmp_path / f"s{i}.wav", np.random.default_rng(i).uniform(-0.5, 0.5, 16000 * 4), 16000)
    pd.DataFrame({"track_id": ["a", "b", "c", "d", "a"], "audio_path": ["s0.wav", "s1.wav", "s2.wav", "s3.wav", "s1.wav"],
                  "genre": ["x", "x", "y", "y", "x"], "album": ["p", "q", "r", "s", "q"]}).to_csv(tmp_path / "m.csv", index=False)
    from songspace.data import loading

    with caplog.at_level("INFO", logger="songspace.data.validation"):
        out, report = validation.validate(loading.load_dataset(tmp_path / "m.csv"))
    dup = report[report["problem"] == "duplicate_id"].iloc[0]
    assert dup["detail"].startswith("line 6: ") and "first kept on line 2" in dup["detail"]  # line 1 is the header
    assert "album" in caplog.text and "no longer group" in caplog.text
    named, _ = validation.validate(loading.load_dataset(tmp_path / "m.csv", label_columns=["genre", "album"]))
    assert named.attrs["label_columns"] == ["genre", "album"]  # the user named it: kept as named
