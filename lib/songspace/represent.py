"""Inputs of the models and the song-level representations that get clustered.

Everything is aligned to the tracks table (one row per song) so that baselines and model latents are
scored on the same songs; audio blocks are zeros with ``mask_audio`` False where a song has no audio.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from . import cluster, features, lyrics
from .split import split_by_song


@dataclass
class Blocks:
    """Per-song feature blocks in tracks-table order.

    track_ids : (n,) str. audio : (n, d_audio) pooled descriptors, zeros where ``mask_audio`` is False.
    lyrics : (n, d_lyrics) embeddings, zeros where ``mask_lyrics`` is False. audio_names : descriptor names.
    """

    track_ids: np.ndarray
    audio: np.ndarray
    lyrics: np.ndarray
    mask_audio: np.ndarray
    mask_lyrics: np.ndarray
    audio_names: list
    lyrics_backend: str


def load_blocks(tracks: pd.DataFrame, processed_dir, lyrics_backend: str | None) -> Blocks:
    """Align the pooled audio descriptors and one lyrics embedding to ``tracks``.

    A modality the collection lacks (01 skipped it) becomes a zero-width block with an all-False mask,
    so audio-only and lyrics-only collections flow through the same code.

    Parameters
    ----------
    tracks : DataFrame with ``track_id`` and ``has_audio`` (from ``data.read_tracks``).
    processed_dir : folder written by ``features.extract_audio`` and ``lyrics.extract_lyrics``.
    lyrics_backend : which lyrics embedding to use (e.g. ``"e5"``); None for none.
    """
    ids = tracks["track_id"].astype(str).to_numpy()
    processed_dir = Path(processed_dir)
    names: list = []
    audio = np.zeros((len(ids), 0), dtype=np.float32)
    mask_audio = np.zeros(len(ids), dtype=bool)
    if (processed_dir / "descriptors_tracks.parquet").exists() and tracks["has_audio"].any():
        desc = features.load_audio_features(processed_dir)["descriptors_tracks"]
        names = [c for c in desc.columns if c != "track_id"]
        desc = desc.set_index(desc["track_id"].astype(str))
        mask_audio = np.isin(ids, desc.index) & tracks["has_audio"].to_numpy(bool)
        audio = np.zeros((len(ids), len(names)), dtype=np.float32)
        audio[mask_audio] = desc.loc[ids[mask_audio], names].to_numpy(np.float32)
    lyr_emb = np.zeros((len(ids), 0), dtype=np.float32)
    mask_lyrics = np.zeros(len(ids), dtype=bool)
    if lyrics_backend:
        lyr = lyrics.load_lyrics(processed_dir, lyrics_backend)
        pos = pd.Index(lyr["track_id"]).get_indexer(ids)
        if (pos < 0).any():
            raise ValueError(f"{processed_dir}: lyrics_{lyrics_backend} lacks {int((pos < 0).sum())} tracks; re-run 01_features")
        lyr_emb, mask_lyrics = lyr["emb"][pos].astype(np.float32), lyr["mask"][pos]
    return Blocks(ids, audio, lyr_emb, mask_audio, mask_lyrics, names, lyrics_backend)


def present_blocks(b: Blocks) -> dict[str, np.ndarray]:
    """The blocks the collection has (non-zero width, at least one song), in column order."""
    return {name: B for name, B, m in (("audio", b.audio, b.mask_audio), ("lyrics", b.lyrics, b.mask_lyrics))
            if B.shape[1] and m.any()}


def model_inputs(b: Blocks, val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Standardised inputs of the vector models, statistics fitted on the by-song training split.

    Returns
    -------
    dict: ``hybrid`` (n, d_a + d_l) for MLP VAE / CVAE / AE (only the blocks the collection has),
    ``multimodal`` (dict for the multimodal VAE), ``train_mask`` (n,), ``stats``.
    """
    from .train import standardise_blocks

    train, _ = split_by_song(b.track_ids, val_fraction, seed)
    blocks = present_blocks(b)
    masks = {"audio": b.mask_audio, "lyrics": b.mask_lyrics}
    X, stats = standardise_blocks(blocks, train, masks)
    da = b.audio.shape[1] if "audio" in blocks else 0
    multimodal = {"audio": X[:, :da], "lyrics": X[:, da:], "mask_audio": b.mask_audio, "mask_lyrics": b.mask_lyrics}
    return {"hybrid": X, "multimodal": multimodal, "train_mask": train, "stats": stats}


def baselines(b: Blocks, pca_dim: int = 8) -> dict:
    """Representations without a learned model, as ``name -> (X, meta)`` for ``evaluate``.

    ``audio_raw`` / ``audio_pca``: pooled descriptors (songs with audio only).
    ``lyrics_only``: the lyrics embedding. ``hybrid_raw`` / ``hybrid_pca``: both blocks standardised and
    weighted equally (songs with both modalities). PCA uses ``pca_dim`` components, the latent size of
    the VAEs it is compared with.
    """
    from .train import standardise_blocks

    a, l = b.mask_audio, b.mask_lyrics
    both = a & l
    out = {}
    if a.sum() >= 2:
        Xa = StandardScaler().fit_transform(b.audio[a])
        out["audio_raw"] = (Xa, {"track_ids": b.track_ids[a], "modality": "audio", "family": "baseline"})
        out["audio_pca"] = (cluster.preprocess(b.audio[a], pca_dim)[0], {"track_ids": b.track_ids[a], "modality": "audio", "family": "baseline"})
    if l.sum() >= 2:
        out["lyrics_only"] = (b.lyrics[l], {"track_ids": b.track_ids[l], "modality": "lyrics", "family": "baseline"})
    if both.sum() >= 2:
        Xh, _ = standardise_blocks({"audio": b.audio[both], "lyrics": b.lyrics[both]}, np.ones(both.sum(), bool))
        out["hybrid_raw"] = (Xh, {"track_ids": b.track_ids[both], "modality": "hybrid", "family": "baseline"})
        out["hybrid_pca"] = (cluster.preprocess(Xh, pca_dim)[0], {"track_ids": b.track_ids[both], "modality": "hybrid", "family": "baseline"})
    return out


class NormalisedPatches:
    """Read-only view of dB log-mel patches, standardised per mel band and given a channel axis.

    Rows are normalised only when read, so a memory-mapped corpus is never copied into RAM.
    Shape (n_windows, 1, n_mels, patch_frames).
    """

    def __init__(self, logmel: np.ndarray, mean: np.ndarray, std: np.ndarray):
        self.logmel, self.mean, self.std = logmel, mean, std
        self.shape = (logmel.shape[0], 1, *logmel.shape[1:])
        self.dtype = np.dtype(np.float32)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        x = features.normalise(self.logmel[idx], self.mean, self.std)
        return x[None] if isinstance(idx, (int, np.integer)) else x[:, None]


def conv_inputs(processed_dir, val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Log-mel patches for the ConvVAE, normalised with training-split statistics only.

    Returns
    -------
    dict: ``X`` (NormalisedPatches, (n_windows, 1, n_mels, frames)), ``track_ids`` (n_windows,),
    ``windows`` (DataFrame), ``mean``/``std`` (n_mels,), ``train_mask`` (n_windows,).
    """
    f = features.load_audio_features(processed_dir)
    ids = f["windows"]["track_id"].astype(str).to_numpy()
    if len(ids) == 0:
        raise ValueError(f"{processed_dir}: no audio windows; the ConvVAE needs songs with audio")
    train, _ = split_by_song(ids, val_fraction, seed)
    mean, std = features.logmel_stats(f["logmel"], train)
    return {"X": NormalisedPatches(f["logmel"], mean, std), "track_ids": ids, "windows": f["windows"],
            "mean": mean, "std": std, "train_mask": train}


def latents(run_dir, key: str = "mu") -> tuple[np.ndarray, np.ndarray]:
    """Latent means ``(n_rows, latent_dim)`` and row track ids saved by ``train.run``."""
    with np.load(Path(run_dir) / "latents.npz", allow_pickle=False) as z:
        return z[key], z["track_ids"].astype(str)
