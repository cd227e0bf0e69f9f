"""What 01 wrote, read back: the descriptor tables and log-mel patches, a musicnn backend's embeddings,
the audio that failed, and the per-band standardisation of the patches the ConvVAE sees.

``extract.extract_audio`` writes these files; their names and columns are defined here, once.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

FAILURE_COLUMNS = ["track_id", "modality", "problem", "detail", "path"]
FAILURES = "audio_failures.csv"  # validation-report rows of the tracks whose audio gave no features
NOTES = "audio_notes.csv"  # report rows of audio that was used with a caveat (truncated, rescaled)
DESCRIPTOR_FILES = ("windows.parquet", "descriptors_windows.parquet", "descriptors_tracks.parquet", "logmel.npy")
BACKEND_FILES = ("tracks.parquet", "windows.parquet", "windows.npy")  # each audio_<backend>_<name>
# the pretrained embeddings of 01 (musicnn's models, as ported in songspace.features.musicnn): backend -> model
MUSICNN_BACKENDS = {"musicnn-msd": "MSD_musicnn", "musicnn-mtt": "MTT_musicnn"}


def backend_path(out_dir, backend: str, name: str = "tracks.parquet") -> Path:
    """Where ``extract_audio`` writes file ``name`` (one of ``BACKEND_FILES``) of a musicnn backend."""
    return Path(out_dir) / f"audio_{backend}_{name}"

def backend_columns(backend: str) -> list[str]:
    """Columns of a musicnn backend's vectors: ``emb_000``..``emb_199`` (penultimate layer), then one
    ``tag_<name>`` per tag (lower case, other characters as ``_``: ``tag_female_vocalists``, ``tag_hip_hop``)."""
    from songspace.features import musicnn

    tags = [f"tag_{re.sub(r'[^0-9a-z]+', '_', t.lower()).strip('_')}" for t in musicnn.TAGS[MUSICNN_BACKENDS[backend]]]
    if len(set(tags)) != len(tags):
        raise ValueError(f"{backend}: tag names collide once made column names")
    return [f"emb_{i:03d}" for i in range(musicnn.N_DENSE)] + tags


def read_meta(out_dir) -> dict:
    """``features.json`` of an ``extract_audio`` run (``params``, ``audio_backends``, ``descriptors``, ``stats``),
    or ``{}`` when 01 wrote none (no audio)."""
    path = Path(out_dir) / "features.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def load_audio_features(out_dir) -> dict:
    """Read what ``extract_audio`` wrote.

    Returns
    -------
    dict with ``windows``, ``descriptors_windows``, ``descriptors_tracks`` (DataFrames),
    ``logmel`` (np.memmap, shape (n_windows, n_mels, patch_frames), float32 dB),
    ``failures`` (DataFrame) and ``meta`` (parameters, descriptor names, stats).
    """
    out_dir = Path(out_dir)
    files = [*DESCRIPTOR_FILES, FAILURES, "features.json"]
    for name in files:
        if not (out_dir / name).exists():
            raise FileNotFoundError(f"{out_dir / name}: missing; run extract_audio first")
    res = dict(
        windows=pd.read_parquet(out_dir / "windows.parquet"),
        descriptors_windows=pd.read_parquet(out_dir / "descriptors_windows.parquet"),
        descriptors_tracks=pd.read_parquet(out_dir / "descriptors_tracks.parquet"),
        logmel=np.load(out_dir / "logmel.npy", mmap_mode="r"),
        failures=read_failures(out_dir),
        meta=read_meta(out_dir),
    )
    n = len(res["windows"])
    if not (res["logmel"].shape[0] == len(res["descriptors_windows"]) == n == res["meta"]["stats"]["n_windows"]):
        raise ValueError(f"{out_dir}: outputs of different runs ({n} windows, logmel {res['logmel'].shape}); "
                         "re-run extract_audio")
    return res

def read_failures(out_dir) -> pd.DataFrame:
    """The tracks whose audio gave no features (``FAILURE_COLUMNS``); empty when extraction has not run."""
    path = Path(out_dir) / FAILURES
    if not path.is_file():
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    return pd.read_csv(path, dtype={"track_id": str})


def read_notes(out_dir) -> pd.DataFrame:
    """The tracks whose audio was used with a caveat (``FAILURE_COLUMNS``: truncated, out of range);
    empty when extraction has not run."""
    path = Path(out_dir) / NOTES
    if not path.is_file():
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    return pd.read_csv(path, dtype={"track_id": str})


def load_backend(out_dir, backend: str) -> dict:
    """Read what ``extract_audio`` wrote for a musicnn backend.

    Parameters
    ----------
    out_dir : path
    backend : str
        ``"musicnn-msd"`` or ``"musicnn-mtt"``.

    Returns
    -------
    dict with ``tracks`` (DataFrame: track_id + per-track means of ``columns``), ``windows`` (DataFrame:
    track_id, patch, start_s in s), ``X`` (np.memmap, shape (n_patches_total, 250), float32, rows as
    ``windows``: 200 penultimate values then 50 tag probabilities) and ``columns`` (the 250 names).
    """
    if backend not in MUSICNN_BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; expected one of {list(MUSICNN_BACKENDS)}")
    out_dir = Path(out_dir)
    paths = {k: backend_path(out_dir, backend, k) for k in BACKEND_FILES}
    for path in paths.values():
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run extract_audio with audio_backends=[{backend!r}]")
    res = dict(tracks=pd.read_parquet(paths["tracks.parquet"]), windows=pd.read_parquet(paths["windows.parquet"]),
               X=np.load(paths["windows.npy"], mmap_mode="r"), columns=backend_columns(backend))
    if (res["X"].shape != (len(res["windows"]), len(res["columns"]))
            or list(res["tracks"].columns) != ["track_id", *res["columns"]]
            or res["windows"]["track_id"].nunique() != len(res["tracks"])):
        raise ValueError(f"{out_dir}: {backend} outputs of different runs (X {res['X'].shape}, "
                         f"{len(res['windows'])} windows, {len(res['tracks'])} tracks); re-run extract_audio")
    return res

def logmel_stats(logmel: np.ndarray, train_mask: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per-mel-band mean and std of the log-mel patches of training windows only.

    Parameters
    ----------
    logmel : np.ndarray, shape (n_windows, n_mels, patch_frames)
        dB patches (may be a memmap: read in chunks).
    train_mask : np.ndarray of bool, shape (n_windows,)

    Returns
    -------
    mean, std : np.ndarray, shape (n_mels,), float32 (dB)
    """
    train_mask = np.asarray(train_mask, dtype=bool)
    if train_mask.shape != (logmel.shape[0],):
        raise ValueError(f"train_mask has shape {train_mask.shape}, expected ({logmel.shape[0]},)")
    idx = np.flatnonzero(train_mask)
    if len(idx) == 0:
        raise ValueError("train_mask selects no window")
    s = np.zeros(logmel.shape[1]); s2 = np.zeros(logmel.shape[1]); n = 0
    for i in range(0, len(idx), chunk):
        x = np.asarray(logmel[idx[i:i + chunk]], dtype=np.float64)
        s += x.sum(axis=(0, 2)); s2 += (x ** 2).sum(axis=(0, 2)); n += x.shape[0] * x.shape[2]
    mean = s / n
    std = np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)

def normalise(logmel: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Standardise dB patches per mel band.

    Parameters
    ----------
    logmel : np.ndarray, shape (..., n_mels, patch_frames)
    mean, std : np.ndarray, shape (n_mels,)  (from ``logmel_stats`` on the training split)

    Returns
    -------
    np.ndarray, same shape, float32
    """
    return ((np.asarray(logmel, dtype=np.float32) - mean[:, None]) / std[:, None]).astype(np.float32)
