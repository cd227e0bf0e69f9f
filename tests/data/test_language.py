"""A library whose files name no language gets each song's language from its lyrics, as a CVAE condition and
never as a label; one that names a language anywhere keeps its own values."""
import numpy as np
import pandas as pd
from songspace.data import language, metadata, plan
from songspace.data.loading import load_dataset
from songspace.data.synthetic import WORDS
from songspace.data.validation import validate

from tagged import write_audio, write_tags

MIXED = "love night heart amour nuit coeur Liebe Nacht Herz amor noche corazon dream reve Traum sueno"


def _verse(lang: str, seed: int, lines: int = 6) -> str:
    rng = np.random.default_rng(seed)
    return "\n".join(" ".join(rng.choice(WORDS[lang], 7)) for _ in range(lines))


def test_detect_names_the_language_of_real_words_and_abstains_without_evidence():
    texts = [_verse(lang, i) for i, lang in enumerate(["en", "fr", "de", "es"])]
    assert language.detect(texts) == ["en", "fr", "de", "es"]
    # Japanese and Arabic lines, as a user's library holds them
    assert language.detect(["雨の夜に君を想う 涙が止まらない 明日の空は晴れるだろうか 私はまだここにいる 遠い街の灯り",
                            "أحبك يا قمر الليل في قلبي نار لا تنطفئ وأنا أنتظر الصباح في المدينة البعيدة"]) == ["ja", "ar"]
    too_little = [None, "", "[Instrumental]", "la la la la la la la la la la la la la la la"]
    sung = ["doo doo doo doo doo doo doo doo doo doo doo doo doo doo doo",  # the model says Somali, 0.84
            "ba da ba da ba da ba da bum ba da ba da ba da ba da bum ba da"]  # Hausa, 0.98
    no_language = ["qwzx kjhg plmn trvb xcvb nmlk jhgf dsaq wert yuio pasd fghj klzx cvbn"]  # zxx, 0.99
    assert language.detect(too_little + sung + no_language) == [None] * 7
    ident = language._identifier()
    assert ident.classify(MIXED)[1] < language.MIN_PROBABILITY  # four languages' words: no language wins
    assert language.detect([MIXED]) == [None]


def _library(root, langs, extra=()):
    for i, lang in enumerate(langs):
        write_audio(root / f"song{i}.wav", seconds=1.0, seed=i)
        (root / f"song{i}.txt").write_text(_verse(lang, 10 + i), encoding="utf-8")
    for j, (name, text) in enumerate(extra):
        write_audio(root / f"{name}.wav", seconds=1.0, seed=50 + j)
        if text is not None:
            (root / f"{name}.txt").write_text(text, encoding="utf-8")


def test_an_untagged_library_gets_its_languages_from_the_lyrics_as_a_condition_not_a_label(tmp_path):
    _library(tmp_path, ["en", "en", "fr", "fr", "de", "de"],
             [("hum", "mm mm mm\n"), ("bare", None), ("lone", _verse("es", 3))])  # the only Spanish song
    df = load_dataset(tmp_path)
    t = df.set_index("track_id")
    songs = [f"song{i}" for i in range(6)]
    assert t.loc[songs, "language"].tolist() == ["en", "en", "fr", "fr", "de", "de"]
    assert (t.loc[songs, "language_source"] == "detected").all()
    assert t[["language", "language_source"]].loc[["hum", "bare", "lone"]].isna().all().all()
    assert "language" not in df.attrs["label_columns"]
    said = language.describe(df)
    assert "6 song(s) in 3 languages (" in said and "de 2" in said and "2 song(s) with lyrics too short" in said
    assert "not scored as a label" in said
    clean, report = validate(df, min_duration_s=0.5)
    assert "language" not in clean.attrs["label_columns"]  # re-detected on the rows kept: still no label
    assert not report["detail"].str.contains("language").any()  # no missing_label rows for it
    p = plan.Plan.of(clean)
    assert "language" not in p.labels and p.runs("cvae")
    assert metadata.provenance(clean).set_index("field").loc["language", "detected"] == 6


def test_a_one_language_library_has_no_condition_and_says_so(tmp_path):
    _library(tmp_path, ["en"] * 4)
    clean, _ = validate(load_dataset(tmp_path), min_duration_s=0.5)
    assert set(clean["language"]) == {"en"} and not plan.Plan.of(clean).runs("cvae")
    assert "all 4 in one language (en)" in language.describe(clean)


def test_a_language_tag_anywhere_keeps_the_collections_own_values(tmp_path):
    for i, lang in enumerate(["en", "fr", "de"]):
        write_audio(tmp_path / f"song{i}.mp3", seconds=1.0, seed=i)
        (tmp_path / f"song{i}.txt").write_text(_verse(lang, 20 + i), encoding="utf-8")
    write_tags(tmp_path / "song0.mp3", title="Zero", language="eng")
    df = load_dataset(tmp_path)
    t = df.set_index("track_id")
    assert t.loc["song0", "language"] == "eng" and t.loc["song0", "language_source"] == "tag"
    assert t.loc[["song1", "song2"], "language"].isna().all()  # gaps, not "fr" beside "eng"
    assert language.describe(df).startswith("2 song(s) with lyrics name no language while others do")


def test_a_tag_that_names_no_language_is_no_tag(tmp_path):
    for i, lang in enumerate(["en", "en", "fr", "fr"]):
        write_audio(tmp_path / f"song{i}.mp3", seconds=1.0, seed=i)
        (tmp_path / f"song{i}.txt").write_text(_verse(lang, 30 + i), encoding="utf-8")
    write_tags(tmp_path / "song0.mp3", title="Zero", language="und")  # ID3's "undetermined"
    t = load_dataset(tmp_path).set_index("track_id")
    assert t["language"].tolist() == ["en", "en", "fr", "fr"] and (t["language_source"] == "detected").all()


def test_a_manifest_language_column_is_kept_and_an_empty_one_is_read_from_the_lyrics(tmp_path):
    rows = "".join(f"t{i},{_verse('fr' if i % 2 else 'de', i, 2).replace(chr(10), ' ')},{'English' if i else ''}\n"
                   for i in range(4))
    (tmp_path / "given").mkdir()
    (tmp_path / "given" / "manifest.csv").write_text("track_id,lyrics,language\n" + rows, encoding="utf-8")
    t = load_dataset(tmp_path / "given").set_index("track_id")
    assert t["language"].tolist()[1:] == ["English"] * 3 and pd.isna(t.loc["t0", "language"])
    assert t["language_source"].tolist()[1:] == ["manifest"] * 3
    (tmp_path / "empty").mkdir()
    blank = "".join(line.rsplit(",", 1)[0] + ",\n" for line in rows.splitlines())
    (tmp_path / "empty" / "manifest.csv").write_text("track_id,lyrics,language\n" + blank, encoding="utf-8")
    t = load_dataset(tmp_path / "empty").set_index("track_id")
    assert t["language"].tolist() == ["de", "fr", "de", "fr"] and (t["language_source"] == "detected").all()
