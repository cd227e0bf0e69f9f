"""A library whose files carry no language tag gets each song's language from its lyrics; one that names a
language anywhere keeps its own values."""
import numpy as np
import pandas as pd
from songspace.data import language
from songspace.data.loading import load_dataset
from songspace.data.synthetic import WORDS
from songspace.data.validation import validate

from tagged import write_audio, write_tags


def _verse(lang: str, seed: int, lines: int = 6) -> str:
    rng = np.random.default_rng(seed)
    return "\n".join(" ".join(rng.choice(WORDS[lang], 7)) for _ in range(lines))


def test_detect_names_the_language_of_real_words_and_abstains_without_evidence():
    texts = [_verse(lang, i) for i, lang in enumerate(["en", "fr", "de", "es"])]
    assert language.detect(texts) == ["en", "fr", "de", "es"]
    # Japanese and Arabic lines, as a user's library holds them
    assert language.detect(["雨の夜に君を想う 涙が止まらない 明日の空は晴れるだろうか 私はまだここにいる 遠い街の灯り",
                            "أحبك يا قمر الليل في قلبي نار لا تنطفئ وأنا أنتظر الصباح في المدينة البعيدة"]) == ["ja", "ar"]
    assert language.detect([None, "", "[Instrumental]", "la la la la la la la la la la la la la la la"]) == [None] * 4


def test_an_untagged_library_gets_its_languages_from_the_lyrics(tmp_path):
    for i, lang in enumerate(["en", "en", "fr", "fr", "de", "de"]):
        write_audio(tmp_path / f"song{i}.wav", seconds=1.0, seed=i)
        (tmp_path / f"song{i}.txt").write_text(_verse(lang, 10 + i), encoding="utf-8")
    write_audio(tmp_path / "hum.wav", seconds=1.0, seed=7)
    (tmp_path / "hum.txt").write_text("mm mm mm\n", encoding="utf-8")  # too little to tell
    write_audio(tmp_path / "bare.wav", seconds=1.0, seed=8)  # no lyrics
    df = load_dataset(tmp_path)
    t = df.set_index("track_id")
    assert t.loc[[f"song{i}" for i in range(6)], "language"].tolist() == ["en", "en", "fr", "fr", "de", "de"]
    assert (t.loc[[f"song{i}" for i in range(6)], "language_source"] == "detected").all()
    assert t[["language", "language_source"]].loc[["hum", "bare"]].isna().all().all()
    assert df.attrs["label_columns"][0] == "language"
    said = language.describe(df)
    assert "6 song(s) in 3 language(s) (" in said and "de 2" in said and "1 song(s) with lyrics too short" in said
    clean, report = validate(df, min_duration_s=0.5)
    gaps = report[report["problem"] == "missing_label"]
    assert sorted(gaps.loc[gaps["detail"].str.contains("language"), "track_id"]) == ["bare", "hum"]


def test_a_language_tag_anywhere_keeps_the_collections_own_values(tmp_path):
    for i, lang in enumerate(["en", "fr", "de"]):
        write_audio(tmp_path / f"song{i}.mp3", seconds=1.0, seed=i)
        (tmp_path / f"song{i}.txt").write_text(_verse(lang, 20 + i), encoding="utf-8")
    write_tags(tmp_path / "song0.mp3", title="Zero", language="eng")
    t = load_dataset(tmp_path).set_index("track_id")
    assert t.loc["song0", "language"] == "eng" and t.loc["song0", "language_source"] == "tag"
    assert t.loc[["song1", "song2"], "language"].isna().all()  # gaps, not "fr" beside "eng"
    assert language.describe(t.reset_index()) == ""


def test_a_manifest_language_column_is_never_overwritten(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "track_id,lyrics,language\n" + "".join(f"t{i},{_verse('fr', i, 2).replace(chr(10), ' ')},{'English' if i else ''}\n"
                                               for i in range(3)), encoding="utf-8")
    t = load_dataset(tmp_path).set_index("track_id")
    assert t["language"].tolist()[1:] == ["English", "English"] and pd.isna(t.loc["t0", "language"])
    assert t["language_source"].tolist()[1:] == ["manifest", "manifest"]
