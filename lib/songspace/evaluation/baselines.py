"""The representations without a learned model that every VAE must beat: each block as it is, its PCA,
and every extra audio and lyrics backend, aligned to the tracks table.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from songspace.evaluation import cluster
from songspace.evaluation.representation import Representation
from songspace.training.inputs import Blocks, load_audio_block, load_blocks
from songspace.training.scaling import block_norm, standardise_blocks


def baselines(b: Blocks, pca_dim: int = 8) -> dict:
    """Representations without a learned model, as ``name -> Representation`` for ``evaluate``.

    ``audio_raw`` / ``audio_pca``: the audio block (songs with audio only). ``lyrics_only``: the lyrics
    embedding. ``hybrid_raw`` / ``hybrid_pca``: both blocks scaled as the models see them and weighted
    equally (songs with both modalities). PCA uses ``pca_dim`` components, the latent size of the VAEs
    it is compared with. ``norm`` says how each is normalised before clustering: the audio block
    by its kind (``block_norm``), embeddings to unit length, PCA outputs and scaled blocks as they are.
    """
    a, l = b.mask_audio, b.mask_lyrics
    both = a & l
    out = {}

    def baseline(X, rows, modality, norm, transform=None):
        backend = b.audio_backend if modality == "audio" else b.lyrics_backend if modality == "lyrics" else None
        return Representation(X, b.track_ids[rows], "baseline", modality, norm, backend=backend, transform=transform)

    if a.sum() >= 2 and b.audio.shape[1]:
        norm = block_norm(b.audio_backend)
        out["audio_raw"] = baseline(b.audio[a], a, "audio", norm)
        Xp, pca = cluster.fit_projection(b.audio[a], pca_dim, norm)  # the fitted PCA places new songs (assign)
        out["audio_pca"] = baseline(Xp, a, "audio", "none", pca)
    if l.sum() >= 2 and b.lyrics.shape[1]:
        out["lyrics_only"] = baseline(b.lyrics[l], l, "lyrics", "l2")
    if both.sum() >= 2 and b.audio.shape[1] and b.lyrics.shape[1]:
        Xh, _ = standardise_blocks({"audio": b.audio[both], "lyrics": b.lyrics[both]}, np.ones(both.sum(), bool),
                                   modes=b.modes)
        out["hybrid_raw"] = baseline(Xh, both, "hybrid", "none")
        out["hybrid_pca"] = baseline(cluster.preprocess(Xh, pca_dim, norm="none")[0], both, "hybrid", "none")
    return out


def extra_baselines(tracks: pd.DataFrame, processed_dir, audio_backends=(), lyrics_backends=(),
                    skip=(None, None)) -> dict:
    """The other backends' song vectors as baselines ``audio_<backend>`` / ``lyrics_<backend>``
    (``skip`` = the (audio, lyrics) backends already in ``baselines``), normalised by kind."""
    out = {}
    for backend in audio_backends:
        if backend != skip[0]:
            X, mask, _ = load_audio_block(tracks, processed_dir, backend)
            if mask.sum() >= 2 and X.shape[1]:
                out[f"audio_{backend}"] = Representation(X[mask], tracks["track_id"].astype(str).to_numpy()[mask],
                                                         "baseline", "audio", block_norm(backend), backend=backend)
    for backend in lyrics_backends:
        if backend != skip[1]:
            other = load_blocks(tracks, processed_dir, backend, audio_backend=None)
            m = other.mask_lyrics
            out[f"lyrics_{backend}"] = Representation(other.lyrics[m], other.track_ids[m], "baseline", "lyrics", "l2",
                                                      backend=backend)
    return out
