"""Neighbour consistency: a song's posterior mean is pulled towards that of one of its nearest neighbours.

SCAN (Van Gansbeke et al., 2020) clusters by asking a song and its nearest neighbours in a pretrained
embedding to share a cluster. The VAE version here adds ``weight * ||mu_i - mu_j||^2`` to the ELBO, with
``j`` one of the ``k`` nearest training songs of ``i`` in the input (cosine), drawn afresh every batch.
Neighbours come from the inputs alone, never from labels, and only among training songs: validation songs
are neither pulled nor pulling, so early stopping judges the ELBO on songs the term never saw.
Models trained on many rows per song (the ConvVAE's patches) find neighbours among songs (the mean of their
rows) and pair each row with the row at the same position in a neighbouring song (``window_neighbour_table``).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors


def neighbour_table(X: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest other rows of each of ``rows``, among ``rows``, by cosine distance.

    Parameters
    ----------
    X : np.ndarray, shape (n_rows, n_features), song vectors.
    rows : np.ndarray of int, shape (n_train,), the rows that may be neighbours (training songs).
    k : int, neighbours per row (fewer when there are not k other rows).

    Returns
    -------
    np.ndarray of int, shape (n_rows, k'), k' = min(k, n_train - 1): row indices into ``X``; the rows not in
    ``rows`` hold -1.
    """
    rows = np.asarray(rows)
    k = min(int(k), len(rows) - 1)
    if k < 1:
        raise ValueError(f"neighbour consistency needs at least 2 training rows, got {len(rows)}")
    A = np.asarray(X[rows], dtype=np.float64)
    # k + 1: each row is its own nearest neighbour (duplicate songs aside), dropped below
    idx = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(A).kneighbors(A, return_distance=False)
    own = idx == np.arange(len(rows))[:, None]
    keep = np.where(own.any(1, keepdims=True), ~own, np.arange(k + 1)[None, :] < k)  # k columns per row
    table = np.full((len(X), k), -1, dtype=np.int64)
    table[rows] = rows[idx[keep].reshape(len(rows), k)]
    return table


def window_neighbour_table(X: np.ndarray, track_ids: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """``neighbour_table`` for rows that are windows (patches) of songs: neighbours are songs, by the cosine
    of the mean of their training rows, and row ``p`` of a song is paired with row ``p`` (cyclically) of each
    of its ``k`` nearest training songs, so a patch meets patches of the same stretch of another song.

    Parameters
    ----------
    X : np.ndarray, shape (n_rows, n_features), one row per window.
    track_ids : np.ndarray of str, shape (n_rows,), the song of each row (a song's rows in time order).
    rows : np.ndarray of int, the training rows (those of training songs).
    k : int, neighbouring songs per song.

    Returns
    -------
    np.ndarray of int, shape (n_rows, k'), as ``neighbour_table``; rows not in ``rows`` hold -1.
    """
    rows = np.asarray(rows)
    songs, inverse = np.unique(np.asarray(track_ids)[rows], return_inverse=True)
    means = np.zeros((len(songs), np.shape(X)[1]))
    np.add.at(means, inverse, np.asarray(X[rows], dtype=np.float64))
    counts = np.bincount(inverse, minlength=len(songs))
    song_nb = neighbour_table(means / counts[:, None], np.arange(len(songs)), k)  # (n_songs, k')
    order = np.argsort(inverse, kind="stable")  # training rows grouped by song, time order kept
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    position = np.empty(len(rows), dtype=np.int64)
    position[order] = np.arange(len(rows)) - np.repeat(starts, counts)
    nb = song_nb[inverse]  # (n_train, k') neighbouring songs of each row's song
    pick = starts[nb] + position[:, None] % counts[nb]
    table = np.full((len(X), song_nb.shape[1]), -1, dtype=np.int64)
    table[rows] = rows[order[pick]]
    return table


def consistency(model, mu: torch.Tensor, x_neighbour: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``||mu - mu_neighbour||^2`` (summed over latent dimensions, nats-like scale
    of the ELBO's per-row sums); gradients flow through both songs' encodings."""
    mu_j = model.encode(x_neighbour)[0]
    return (mu - mu_j).pow(2).sum(1).mean()
