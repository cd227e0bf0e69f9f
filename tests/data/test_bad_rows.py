"""A bad manifest row or an odd lyrics encoding is a row of the report; every other row runs."""
import codecs

import pytest
from songspace.data.loading import DatasetError, load_dataset
from songspace.data.text import TextDecodeError, decode_text
from songspace.data.validation import validate

from tagged import write_audio


def test_every_bad_row_kind_is_a_row_naming_its_line(tmp_path):
    for name in ("a", "b", "c", "d"):
        write_audio(tmp_path / f"{name}.wav", seconds=1.0, seed=ord(name))
    (tmp_path / "d.txt").write_text("words", encoding="utf-8")
    (tmp_path / "manifest.csv").write_text(
        "track_id,audio_path,lyrics_path,genre\n"
        "a,a.wav,,rock\n"            # line 2: fine
        ",b.wav,,rock\n"             # line 3: empty track_id
        "c,c.wav,,jazz,extra\n"      # line 4: more fields than the header
        "short,c.wav\n"              # line 5: fewer fields
        "\n"                         # a blank line is skipped, not a problem
        "d,bad\0name.wav,d.txt,jazz\n"  # line 7: a path with a NUL byte; its lyrics still run
        "e,http://example.org/e.mp3,,jazz\n"  # line 8: a URL is not fetched
        "f,d.wav,,rock\n", encoding="utf-8")
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    rows = {(r.problem, r.detail.split(":")[0]): r for r in report.itertuples()}
    assert rows[("bad_manifest_row", "line 3")].track_id == "manifest line 3"
    assert "empty track_id" in rows[("bad_manifest_row", "line 3")].detail
    assert "5 fields, the header has 4" in rows[("bad_manifest_row", "line 4")].detail
    assert rows[("bad_manifest_row", "line 4")].track_id == "c"
    assert "2 fields" in rows[("bad_manifest_row", "line 5")].detail
    assert rows[("bad_path", "line 7")].track_id == "d" and rows[("bad_path", "line 7")].modality == "audio"
    assert "URL" in rows[("bad_path", "line 8")].detail
    t = clean.set_index("track_id")
    assert sorted(t.index) == ["a", "d", "e", "f"]
    assert t.loc["a", "has_audio"] and t.loc["f", "has_audio"]
    assert not t.loc["d", "has_audio"] and t.loc["d", "has_lyrics"]  # the other modality still runs


def test_a_manifest_with_no_usable_row_is_an_error_naming_the_lines(tmp_path):
    (tmp_path / "manifest.csv").write_text("track_id,audio_path\n,a.wav\nb,b.wav,x\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"no usable row .*line 2.*empty track_id.*line 3"):
        load_dataset(tmp_path)


def test_a_utf16_manifest_with_bom_is_read(tmp_path):
    write_audio(tmp_path / "a.wav", seconds=1.0)
    (tmp_path / "manifest.csv").write_bytes("track_id,audio_path,genre\nä,a.wav,rock\n".encode("utf-16"))
    assert load_dataset(tmp_path)["track_id"].tolist() == ["ä"]


@pytest.mark.parametrize("data, text, how", [
    (codecs.BOM_UTF8 + "café".encode(), "café", "utf-8 (BOM)"),
    ("café\nété".encode("utf-16"), "café\nété", "utf-16-le (BOM)"),  # Windows "Unicode": LE with BOM
    (codecs.BOM_UTF16_BE + "Ωμέγα".encode("utf-16-be"), "Ωμέγα", "utf-16-be (BOM)"),
    ("naïve".encode(), "naïve", "utf-8"),
    ("café été".encode("cp1252"), "café été", "cp1252 (fallback)"),
    ("No BOM, été".encode("utf-16-le"), "No BOM, été", "utf-16-le (fallback)"),  # valid UTF-8 too
    ("No BOM".encode("utf-16-be"), "No BOM", "utf-16-be (fallback)"),
])
def test_lyrics_decoded_by_bom_then_utf8_then_the_fallback(data, text, how):
    assert decode_text(data) == (text, how)


@pytest.mark.parametrize("data", [b"\x00\x81\xfe" * 10, b"caf\x81 \x8d", codecs.BOM_UTF16_LE + b"\x00\xd8",
                                  b"PK\x03\x04\x00\x00\x08\x00ab\x00c"])  # binary: NUL bytes anywhere
def test_undecodable_text_says_what_was_tried(data):
    with pytest.raises(TextDecodeError, match=r"not UTF-8|byte-order mark"):
        decode_text(data)


def test_lyrics_of_each_encoding_in_a_folder(tmp_path):
    for i, (name, data) in enumerate([("le", "Liebe".encode("utf-16")), ("be", codecs.BOM_UTF16_BE + "Liebe".encode("utf-16-be")),
                                      ("u8bom", codecs.BOM_UTF8 + b"Liebe"), ("cp", "Lieb\xe9".encode("cp1252")),
                                      ("bad", b"\x00\x9d\x00")]):
        write_audio(tmp_path / f"{name}.wav", seconds=1.0, seed=i)
        (tmp_path / f"{name}.txt").write_bytes(data)
    clean, report = validate(load_dataset(tmp_path), min_duration_s=0.5)
    t = clean.set_index("track_id")
    assert t.loc["le", "lyrics"] == t.loc["be", "lyrics"] == t.loc["u8bom", "lyrics"] == "Liebe"
    assert t.loc["cp", "lyrics"] == "Lieb\xe9" and not t.loc["bad", "has_lyrics"]
    r = report.set_index("track_id")
    assert r.loc["cp", "problem"] == "lyrics_encoding" and r.loc["cp", "kept"]
    assert r.loc["bad", "problem"] == "undecodable_lyrics" and not r.loc["bad", "kept"]
    assert set(r.index) == {"cp", "bad"}
