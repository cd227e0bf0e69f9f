"""Train/validation splits by song: windows of one song never straddle the split."""
from __future__ import annotations

import numpy as np


def split_by_song(track_ids, val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) over rows, assigning whole songs to one side.

    Parameters
    ----------
    track_ids : array-like of str, shape (n_rows,)
        Song of each row (a row may be a window or a track).
    val_fraction : float
        Share of distinct songs held out (at least one song when there are two or more).
    seed : int
        Seed of the song shuffle.

    Returns
    -------
    train, val : np.ndarray of bool, shape (n_rows,)
    """
    ids = np.asarray(track_ids).astype(str)
    songs = np.unique(ids)
    rng = np.random.default_rng(seed)
    songs = rng.permutation(songs)
    n_val = int(round(val_fraction * len(songs)))
    if len(songs) >= 2 and val_fraction > 0:
        n_val = min(max(n_val, 1), len(songs) - 1)
    else:
        n_val = 0
    val_songs = set(songs[:n_val])
    val = np.array([t in val_songs for t in ids], dtype=bool)
    return ~val, val
