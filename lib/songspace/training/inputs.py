"""Inputs of the models: feature blocks aligned to the tracks table, and each view a model trains on.

Everything is aligned to the tracks table (one row per song) so that baselines and model latents are
scored on the same songs (``evaluation.baselines``); audio blocks are zeros with ``mask_audio`` False where a song has no audio.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from songspace.features import lyrics, saved
from songspace.training.scaling import block_norm, standardise_blocks
from songspace.training.split import split_by_song


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
    lyrics_backend: str | None
    audio_backend: str = "descriptors"

    @property
    def modes(self) -> dict[str, str]:
        """How each block is scaled (``scaling.standardise_blocks``): descriptors column by column,
        embeddings (musicnn, lyrics models, TF-IDF SVD) as rows of unit length, geometry kept."""
        return {"audio": block_norm(self.audio_backend), "lyrics": "l2"}


def load_audio_block(tracks: pd.DataFrame, processed_dir, audio_backend: str | None = "descriptors"):
    """(X (n, d) float32 zeros where absent, mask (n,), column names) of one audio backend, in tracks order.

    ``descriptors``: the pooled named descriptors. A musicnn backend: the song mean of the 200-d
    penultimate layer (its tags are kept for the report, not used as input). Missing outputs (01 skipped
    audio) give a zero-width block.
    """
    ids = tracks["track_id"].astype(str).to_numpy()
    processed_dir = Path(processed_dir)
    has = tracks["has_audio"].to_numpy(bool)
    empty = np.zeros((len(ids), 0), np.float32), np.zeros(len(ids), bool), []
    if audio_backend is None or not has.any():
        return empty
    if audio_backend == "descriptors":
        if not (processed_dir / "descriptors_tracks.parquet").exists():
            return empty
        table = pd.read_parquet(processed_dir / "descriptors_tracks.parquet")
        names = [c for c in table.columns if c != "track_id"]
    else:
        if not saved.backend_path(processed_dir, audio_backend).exists():
            return empty
        table = saved.load_backend(processed_dir, audio_backend)["tracks"]
        names = [c for c in table.columns if c.startswith("emb_")]
    table = table.set_index(table["track_id"].astype(str))
    mask = np.isin(ids, table.index) & has
    X = np.zeros((len(ids), len(names)), dtype=np.float32)
    X[mask] = table.loc[ids[mask], names].to_numpy(np.float32)
    return X, mask, names


def load_blocks(tracks: pd.DataFrame, processed_dir, lyrics_backend: str | None,
                audio_backend: str | None = "descriptors") -> Blocks:
    """Align one audio backend's song vectors and one lyrics embedding to ``tracks``.

    A modality the collection lacks (01 skipped it) becomes a zero-width block with an all-False mask,
    so audio-only and lyrics-only collections flow through the same code.

    Parameters
    ----------
    tracks : DataFrame with ``track_id`` and ``has_audio`` (from ``loading.read_tracks``).
    processed_dir : folder written by ``extract.extract_audio`` and ``lyrics.extract_lyrics``.
    lyrics_backend : which lyrics embedding to use (e.g. ``"e5"``); None for none.
    audio_backend : ``"descriptors"`` or a musicnn backend (``"musicnn-msd"``).
    """
    ids = tracks["track_id"].astype(str).to_numpy()
    audio, mask_audio, names = load_audio_block(tracks, processed_dir, audio_backend)
    lyr_emb = np.zeros((len(ids), 0), dtype=np.float32)
    mask_lyrics = np.zeros(len(ids), dtype=bool)
    if lyrics_backend:
        lyr = lyrics.load_lyrics(processed_dir, lyrics_backend)
        pos = pd.Index(lyr["track_id"]).get_indexer(ids)
        if (pos < 0).any():
            raise ValueError(f"{processed_dir}: lyrics_{lyrics_backend} lacks {int((pos < 0).sum())} tracks; re-run 01_features")
        lyr_emb, mask_lyrics = lyr["emb"][pos].astype(np.float32), lyr["mask"][pos]
    return Blocks(ids, audio, lyr_emb, mask_audio, mask_lyrics, names, lyrics_backend, audio_backend)


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
    train, _ = split_by_song(b.track_ids, val_fraction, seed)
    blocks = present_blocks(b)
    masks = {"audio": b.mask_audio, "lyrics": b.mask_lyrics}
    X, stats = standardise_blocks(blocks, train, masks, modes=b.modes)
    da = b.audio.shape[1] if "audio" in blocks else 0
    multimodal = {"audio": X[:, :da], "lyrics": X[:, da:], "mask_audio": b.mask_audio, "mask_lyrics": b.mask_lyrics}
    return {"hybrid": X, "multimodal": multimodal, "train_mask": train, "stats": stats}


def lyrics_inputs(b: Blocks, val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Input of the lyrics-only VAE: the lyrics embedding alone, on the songs that have lyrics.

    In the hybrid input a song without audio carries a zero audio block, so "has audio or not" becomes a
    direction the hybrid VAE must spend latent capacity on; this input leaves it out. Scaled as in
    ``model_inputs`` (rows of unit length, one scalar), statistics from the training songs of the split
    of exactly these songs, returned as ``train_mask`` for the training loop to use.

    Returns
    -------
    dict: ``X`` (n_lyrics, d_l) float32, ``track_ids`` (n_lyrics,), ``train_mask`` (n_lyrics,).
    """
    keep = b.mask_lyrics
    if b.lyrics.shape[1] == 0 or not keep.any():
        raise ValueError("no song has a lyrics embedding; a lyrics model needs lyrics")
    ids = b.track_ids[keep]
    train, _ = split_by_song(ids, val_fraction, seed)
    X, _ = standardise_blocks({"lyrics": b.lyrics[keep]}, train, {"lyrics": np.ones(len(ids), bool)},
                              modes={"lyrics": b.modes["lyrics"]})
    return {"X": X, "track_ids": ids, "train_mask": train}


def audio_windows(processed_dir, audio_backend: str = "descriptors") -> tuple[np.ndarray, np.ndarray]:
    """Every window's audio vector and its song: (X (n_windows, d) float32, track_ids (n_windows,)).

    ``descriptors``: the per-window pooled descriptors; a musicnn backend: the penultimate layer of
    every 3-s patch it embedded (``AudioParams.musicnn_max_patches`` per song at most).
    """
    if audio_backend == "descriptors":
        table = saved.load_audio_features(processed_dir)["descriptors_windows"]
        names = [c for c in table.columns if c not in ("track_id", "window")]
        return table[names].to_numpy(np.float32), table["track_id"].astype(str).to_numpy()
    out = saved.load_backend(processed_dir, audio_backend)
    n_emb = sum(c.startswith("emb_") for c in out["columns"])
    return np.asarray(out["X"][:, :n_emb], dtype=np.float32), out["windows"]["track_id"].astype(str).to_numpy()


def window_inputs(processed_dir, audio_backend: str, val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Window-level inputs of an audio model: every window of every song, scaled as the backend's kind
    wants with statistics of the training songs' windows only (split by song, as everywhere).

    Returns
    -------
    dict: ``X`` (n_windows, d) float32, ``track_ids`` (n_windows,), ``train_mask`` (n_windows,).
    """
    X, ids = audio_windows(processed_dir, audio_backend)
    if len(ids) == 0:
        raise ValueError(f"{processed_dir}: no {audio_backend} windows; a window model needs songs with audio")
    train, _ = split_by_song(ids, val_fraction, seed)
    Xs, _ = standardise_blocks({"audio": X}, train, {"audio": np.ones(len(ids), bool)},
                               modes={"audio": block_norm(audio_backend)})
    return {"X": Xs, "track_ids": ids, "train_mask": train}


def window_counts(processed_dir, audio_backend: str = "descriptors") -> tuple[int, int]:
    """(windows, songs) of a backend's window table: what a window-level run's cost grows with."""
    path = (Path(processed_dir) / "windows.parquet" if audio_backend == "descriptors"
            else saved.backend_path(processed_dir, audio_backend, "windows.parquet"))
    ids = pd.read_parquet(path, columns=["track_id"])["track_id"]
    return len(ids), int(ids.nunique())


class NormalisedPatches:
    """Read-only view of dB log-mel patches, standardised per mel band and given a channel axis.

    Rows are normalised only when read, so a memory-mapped corpus is never copied into RAM.
    Shape (n_windows, 1, n_mels, patch_frames); with ``rows`` (n,) int, the view holds those windows,
    in that order (a window may appear more than once): shape (n, 1, n_mels, patch_frames).
    """

    def __init__(self, logmel: np.ndarray, mean: np.ndarray, std: np.ndarray, rows: np.ndarray | None = None):
        self.logmel, self.mean, self.std = logmel, mean, std
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        n = logmel.shape[0] if self.rows is None else len(self.rows)
        self.shape = (n, 1, *logmel.shape[1:])
        self.dtype = np.dtype(np.float32)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        if self.rows is not None:  # row i of this view is window rows[i] of the corpus
            idx = self.rows[idx]
        x = saved.normalise(self.logmel[idx], self.mean, self.std)
        return x[None] if isinstance(idx, (int, np.integer)) else x[:, None]


def conv_inputs(processed_dir, val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Log-mel patches for the ConvVAE, normalised with training-split statistics only.

    Returns
    -------
    dict: ``X`` (NormalisedPatches, (n_windows, 1, n_mels, frames)), ``track_ids`` (n_windows,),
    ``windows`` (DataFrame), ``mean``/``std`` (n_mels,), ``train_mask`` (n_windows,).
    """
    f = saved.load_audio_features(processed_dir)
    ids = f["windows"]["track_id"].astype(str).to_numpy()
    if len(ids) == 0:
        raise ValueError(f"{processed_dir}: no audio windows; the ConvVAE needs songs with audio")
    train, _ = split_by_song(ids, val_fraction, seed)
    mean, std = saved.logmel_stats(f["logmel"], train)
    return {"X": NormalisedPatches(f["logmel"], mean, std), "track_ids": ids, "windows": f["windows"],
            "mean": mean, "std": std, "train_mask": train}


def transfer_inputs(processed_dir, backend: str = "musicnn-msd", with_tags: bool = False,
                    val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Inputs of the ``TransferConvVAE``: each musicnn patch's frozen features and the log-mel patch of
    the same stretch of audio, which the decoder rebuilds.

    One row per 3-s musicnn patch that 01 embedded (``AudioParams.musicnn_max_patches`` per song at most).
    Its log-mel patch is the one of the song's window whose centre is nearest the musicnn patch's centre
    (windows hop by ``hop_s``, so the two centres are at most half a hop apart). Features are scaled as
    ``window_inputs`` scales the backend (rows of unit length), patches standardised per mel band, both
    with statistics of the training songs only.

    Parameters
    ----------
    processed_dir : folder written by ``extract.extract_audio`` with ``backend`` among its audio backends.
    backend : the musicnn backend (``"musicnn-msd"``, ``"musicnn-mtt"``).
    with_tags : append the 50 tag probabilities to the 200 penultimate values.

    Returns
    -------
    dict: ``X`` (dict: ``features`` (n_patches, 200 or 250) float32, ``logmel`` (NormalisedPatches,
    (n_patches, 1, n_mels, frames))), ``track_ids`` (n_patches,), ``train_mask`` (n_patches,),
    ``windows`` (n_patches,) int, the log-mel window of each row.
    """
    emb = saved.load_backend(processed_dir, backend)
    f = saved.load_audio_features(processed_dir)
    ids = emb["windows"]["track_id"].astype(str).to_numpy()
    if len(ids) == 0:
        raise ValueError(f"{processed_dir}: no {backend} patches; the ConvVAE needs songs with audio")
    win = f["windows"].assign(track_id=f["windows"]["track_id"].astype(str))
    params = f["meta"]["params"]
    from songspace.features import musicnn

    half_emb = musicnn.PATCH_FRAMES * musicnn.HOP / musicnn.SR / 2  # s
    half_mel = params["patch_frames"] * params["hop_length"] / params["sr"] / 2  # s
    want = emb["windows"]["start_s"].to_numpy(float) + half_emb  # centre of each musicnn patch, s
    centre = win["start_s"].to_numpy(float) + half_mel
    groups = win.groupby("track_id", sort=False).indices
    missing = sorted(set(ids) - set(groups))
    if missing:
        raise ValueError(f"{processed_dir}: {backend} has patches of {len(missing)} song(s) without log-mel windows "
                         f"(e.g. {missing[0]!r}); outputs of different runs, re-run extract_audio")
    rows = np.empty(len(ids), dtype=np.int64)
    for song, pos in pd.Series(np.arange(len(ids))).groupby(ids, sort=False).indices.items():
        cand = groups[song]
        rows[pos] = cand[np.abs(centre[cand][None, :] - want[pos][:, None]).argmin(axis=1)]
    train, _ = split_by_song(ids, val_fraction, seed)
    width = sum(c.startswith("emb_") for c in emb["columns"]) if not with_tags else len(emb["columns"])
    X, _ = standardise_blocks({"audio": np.asarray(emb["X"][:, :width], dtype=np.float32)}, train,
                              {"audio": np.ones(len(ids), bool)}, modes={"audio": block_norm(backend)})
    train_songs = np.unique(ids[train])
    mean, std = saved.logmel_stats(f["logmel"], np.isin(win["track_id"].to_numpy(), train_songs))
    return {"X": {"features": X.astype(np.float32), "logmel": NormalisedPatches(f["logmel"], mean, std, rows)},
            "track_ids": ids, "train_mask": train, "windows": rows}


def latents(run_dir, key: str = "mu") -> tuple[np.ndarray, np.ndarray]:
    """Latent means ``(n_rows, latent_dim)`` and row track ids saved by ``store.run``."""
    with np.load(Path(run_dir) / "latents.npz", allow_pickle=False) as z:
        return z[key], z["track_ids"].astype(str)
