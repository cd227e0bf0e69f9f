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


def test_one_tagged_song_keeps_its_value_and_the_others_are_read_where_they_can_be(tmp_path):
    for i, lang in enumerate(["en", "fr", "de"]):
        write_audio(tmp_path / f"song{i}.mp3", seconds=1.0, seed=i)
        (tmp_path / f"song{i}.txt").write_text(_verse(lang, 20 + i), encoding="utf-8")
    write_tags(tmp_path / "song0.mp3", title="Zero", language="eng")
    df = load_dataset(tmp_path)
    t = df.set_index("track_id")
    assert t.loc["song0", "language"] == "eng" and t.loc["song0", "language_source"] == "tag"
    assert t.loc[["song1", "song2"], "language"].isna().all()  # read, but each language in one song only
    assert language.describe(df).startswith("2 song(s) with lyrics name no language, and none could be read")


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


def test_varieties_fold_into_their_language_and_short_or_misdecoded_text_is_no_evidence(monkeypatch):
    class Says:
        def __init__(self, code):
            self.code = code

        def classify(self, text):
            return self.code, 0.99

    verse = _verse("en", 1)
    for code, want in (("arz", "ar"), ("yue", "zh"), ("kab", "kab")):
        monkeypatch.setattr(language, "_identifier", lambda code=code: Says(code))
        assert language.detect([verse]) == [want]
    monkeypatch.setattr(language, "_identifier", lambda: Says("en"))
    assert language.detect(["quick brown fox jumps over lazy dog"]) == [None]  # 15 trigrams, 29 letters
    russian = "Я люблю тебя и ночью и днём, мы будем вместе навсегда, под звёздами и солнцем в городе"
    assert language.detect([russian.encode("cp1251").decode("cp1252")]) == [None]  # mojibake, not Ligurian


def test_a_tag_that_names_no_language_is_emptied_beside_tags_that_do(tmp_path):
    for i, tag in enumerate(["und", "und", "eng", "eng"]):
        write_audio(tmp_path / f"song{i}.mp3", seconds=1.0, seed=i)
        write_tags(tmp_path / f"song{i}.mp3", title=f"S{i}", language=tag, lyrics=_verse("fr", 40 + i))
    df = load_dataset(tmp_path)
    # one language named ("und" is none): the others are read from their lyrics, the named ones in the same codes
    assert df["language"].tolist() == ["fr", "fr", "en", "en"]
    assert df["language_source"].tolist() == ["detected", "detected", "tag", "tag"]
    assert "language" not in df.attrs["label_columns"]  # partly read from the lyrics: no evidence
    assert language.describe(df).startswith("Only 2 song(s) name a language, all the same one")


def test_spellings_of_one_language_are_one_class_and_two_named_languages_are_the_collections_label(tmp_path):
    rows = "".join(f"t{i},{_verse('fr', 60 + i, 2).replace(chr(10), ' ')},{lang}\n"
                   for i, lang in enumerate(["eng", "English", "en", "French", "fre", ""]))
    (tmp_path / "manifest.csv").write_text("track_id,lyrics,language\n" + rows, encoding="utf-8")
    t = load_dataset(tmp_path).set_index("track_id")
    assert t["language"].tolist()[:5] == ["English"] * 3 + ["French"] * 2  # a tie: the first in sorted order
    assert pd.isna(t.loc["t5", "language"]) and "language" in load_dataset(tmp_path).attrs["label_columns"]
    assert [language.code_of(v) for v in ("EN", "ger", "Deutsch", "Klingon", "xx")] == ["en", "de", None, "tlh", None]


def test_a_language_read_from_the_lyrics_and_named_in_labels_is_scored_with_a_caveat(tmp_path):
    _library(tmp_path, ["en", "en", "fr", "fr"])
    df = load_dataset(tmp_path, label_columns=["language"])
    assert df.attrs["label_columns"] == ["language"]
    assert "scored because the labels named it" in language.describe(df)


def test_no_language_that_two_songs_share_is_said(tmp_path):
    _library(tmp_path, ["en", "fr", "de"])
    df = load_dataset(tmp_path)
    assert df["language"].isna().all()
    assert "none could be read from the lyrics of the 3 songs" in language.describe(df)


def test_one_file_alone_is_not_read(tmp_path, monkeypatch):
    from songspace.data.loading import load_file

    write_audio(tmp_path / "one.wav", seconds=1.0)
    (tmp_path / "one.txt").write_text(_verse("en", 5), encoding="utf-8")
    monkeypatch.setattr(language, "_identifier", lambda: (_ for _ in ()).throw(AssertionError("model loaded")))
    t = load_file(tmp_path / "one.wav")
    assert t["has_lyrics"].all() and t["language"].isna().all()
