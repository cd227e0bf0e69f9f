"""A label value is one class however a library spells it; a tag editor's placeholder is no class."""
import pandas as pd
from songspace.data.labels import tidy, tidy_values
from songspace.data.loading import load_dataset

from tagged import write_audio, write_tags


def test_case_and_white_space_variants_are_one_value_spelled_as_most_songs_spell_it():
    v = pd.Series(["Rock", "rock ", "ROCK", "Rock", "Hip  Hop", "hip hop", "Hip Hop", "Jazz", None, "  "], dtype="str")
    assert tidy_values(v).tolist()[:8] == ["Rock"] * 4 + ["Hip Hop"] * 3 + ["Jazz"]
    assert tidy_values(v).iloc[8:].isna().all()  # blank is missing


def test_placeholders_are_emptied_only_where_a_tag_wrote_them():
    df = pd.DataFrame({"genre": ["Other", "Unknown", "Rock", "other"], "genre_source": ["tag", "tag", "tag", "manifest"],
                       "artist": ["Unknown Artist", "A", "A", "B"]})
    out = tidy(df, ["genre", "artist"])
    assert out["genre"].isna().tolist() == [True, True, False, False] and out.loc[3, "genre"] == "other"
    assert out["genre_source"].isna().tolist() == [True, True, False, False]
    assert out.loc[0, "artist"] == "Unknown Artist"  # no source column: not known to come from a tag


def test_a_folder_of_tagged_files_scores_one_genre_per_spelling(tmp_path):
    for i, genre in enumerate(["Rock", "rock", "ROCK ", "Rock", "pop", "Other"]):
        write_audio(tmp_path / f"s{i}.mp3", seconds=1.0, seed=i)
        write_tags(tmp_path / f"s{i}.mp3", title=f"S{i}", artist="Unknown Artist" if i < 2 else f"Band {i % 2}",
                   genre=genre)
    df = load_dataset(tmp_path).set_index("track_id")
    assert df["genre"].tolist()[:5] == ["Rock"] * 4 + ["pop"] and pd.isna(df.loc["s5", "genre"])
    assert df["artist"].iloc[:2].isna().all() and "genre" in load_dataset(tmp_path).attrs["label_columns"]
