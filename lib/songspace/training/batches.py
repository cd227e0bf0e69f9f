"""Batches for the training loop: rows read lazily from arrays or memmaps, at most k windows per song per epoch."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
)


class RowBatches(Dataset):
    """Batches read lazily from an array or memmap (or a dict of them): item = list of positions.

    Only the rows of each batch are read and turned into tensors, so X may be larger than RAM.
    """

    def __init__(self, X, rows: np.ndarray, cond: np.ndarray | None = None):
        self.X, self.rows, self.cond = X, np.asarray(rows), cond

    def __len__(self):
        return len(self.rows)

    def _take(self, A, idx):
        a = np.asarray(A[idx])
        return torch.from_numpy(a.astype(bool if a.dtype == bool else np.float32, copy=False))

    def __getitem__(self, positions):
        idx = np.sort(self.rows[np.asarray(positions)])  # sorted reads are sequential on a memmap
        x = ({k: self._take(v, idx) for k, v in self.X.items()} if isinstance(self.X, dict)
             else self._take(self.X, idx))
        c = torch.from_numpy(self.cond[idx]) if self.cond is not None else torch.zeros(0)
        return x, c


class NeighbourBatches(RowBatches):
    """``RowBatches`` whose items also carry one random neighbour of each row: ``(x, c, x_neighbour)``.

    ``table`` is ``neighbours.neighbour_table``'s; the neighbour of each row is drawn from ``rng`` (seeded by the run),
    so a run repeats exactly with ``num_workers=0``.
    """

    def __init__(self, X, rows, cond, table: np.ndarray, rng: np.random.Generator):
        super().__init__(X, rows, cond)
        self.table, self.rng = table, rng

    def __getitem__(self, positions):
        x, c = super().__getitem__(positions)
        idx = np.sort(self.rows[np.asarray(positions)])  # the order super() returns the rows in
        pick = self.table[idx, self.rng.integers(0, self.table.shape[1], len(idx))]
        if not isinstance(self.X, dict):
            return x, c, self._take(self.X, pick)
        order = np.argsort(pick, kind="stable")  # memory-mapped blocks read in row order, then put back
        back = torch.from_numpy(np.argsort(order))
        return x, c, {k: self._take(v, pick[order])[back] for k, v in self.X.items()}


def per_song_subset(track_ids: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of at most ``k`` rows of each song, chosen at random (sorted).

    Parameters
    ----------
    track_ids : np.ndarray of str, shape (n_rows,)
    k : int, rows kept per song (a song with fewer keeps all).
    rng : numpy Generator.
    """
    keys = rng.random(len(track_ids))
    order = np.lexsort((keys, track_ids))  # by song, random within the song
    songs = track_ids[order]
    first = np.r_[0, np.flatnonzero(songs[1:] != songs[:-1]) + 1]
    rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    return np.sort(order[rank < k])


class PerSongSampler(torch.utils.data.Sampler):
    """Each epoch: at most ``k`` random rows of every song, shuffled (a fresh draw per epoch)."""

    def __init__(self, track_ids: np.ndarray, k: int, seed: int):
        self.track_ids, self.k = np.asarray(track_ids), int(k)
        self.rng = np.random.default_rng(seed)
        self.n = int(np.minimum(np.unique(self.track_ids, return_counts=True)[1], self.k).sum())

    def __len__(self):
        return self.n

    def __iter__(self):
        pos = per_song_subset(self.track_ids, self.k, self.rng)
        return iter(self.rng.permutation(pos).tolist())


def make_loader(X, rows, cond, batch_size, shuffle, seed, num_workers, track_ids=None, per_song: int = 0,
                neighbours: np.ndarray | None = None):
    """Batches of ``rows`` of ``X``; with ``per_song`` > 0 (and ``track_ids`` of the rows) at most that many
    rows per song: a fresh draw each epoch when shuffling, one fixed draw otherwise. With ``neighbours`` (a
    ``neighbours.neighbour_table``) each batch also carries one random neighbour of each row."""
    if per_song and not shuffle:
        rows = rows[per_song_subset(np.asarray(track_ids), per_song, np.random.default_rng(seed + 1))]
    ds = (RowBatches(X, rows, cond) if neighbours is None
          else NeighbourBatches(X, rows, cond, neighbours, np.random.default_rng(seed + 2)))
    if per_song and shuffle:
        base = PerSongSampler(track_ids, per_song, seed)
    else:
        base = RandomSampler(ds, generator=torch.Generator().manual_seed(seed)) if shuffle else SequentialSampler(ds)
    return DataLoader(ds, sampler=BatchSampler(base, batch_size, drop_last=False), batch_size=None,
                      num_workers=num_workers)


def to_device(x, device):
    """A batch (tensor, or dict of tensors for the multimodal VAE) on ``device``."""
    return {k: v.to(device) for k, v in x.items()} if isinstance(x, dict) else x.to(device)


def n_rows(X) -> int:
    """Rows of an array, memmap or dict of them (the mask entries of a multimodal dict aside)."""
    if isinstance(X, dict):
        return int(next(v for k, v in X.items() if not k.startswith("mask")).shape[0])
    return int(X.shape[0])
