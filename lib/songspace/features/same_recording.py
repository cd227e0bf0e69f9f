"""Songs that are one recording in two files: a FLAC and its MP3, two rips or downloads of one track.

A byte-identical copy is validation's ``duplicate_audio``. A copy in another format or bitrate has other
bytes, but window for window the same log-mel spectrogram. Such a pair is each other's nearest song at a
distance near 0 and always shares a cluster, which a user wants to know before reading neighbours and
scores. It stays two songs; 01 writes a kept ``same_recording`` row to ``audio_notes.csv`` (from the
descriptors backend's log-mel patches: without that backend, no check).

Two recordings of one song (a live take, a remaster of another length) are not one recording: their
windows are not the same sound at the same times, and they are not reported. Neither is a cut of a song.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from songspace.cache import file_hash

# Emotify (400 real clips; docs/benchmarks.md) holds 3 pairs of files with other bytes that are one recording (waveform correlation
# 0.97-0.99 at lag 0). With each band's level over the window removed (the spectral tilt every song shares),
# their least alike windows correlate 0.957-0.999; the most alike windows of two different songs, on Emotify, the
# 4Q clips and a 60-song library, 0.22 at most. musicnn's patches are no test: one pair agrees only to 0.91 there.
MIN_CORRELATION = 0.8
START_TOLERANCE_S = 0.25  # window starts follow the decoded length, which encoders pad by a few ms
SKETCH_DIM = 128  # candidates by a random projection of 3 windows a song: m x 128 values, not m x 6,144
SKETCH_MIN = 0.5  # the projection's correlations are within ~0.1 of the true ones: a wide margin
_BLOCK = 2048  # songs per block of the sketch-similarity matrix


def same_recordings(windows: pd.DataFrame, logmel: np.ndarray, min_correlation: float = MIN_CORRELATION,
                    tolerance_s: float = START_TOLERANCE_S) -> list[tuple[str, str, float]]:
    """Pairs of songs whose every window is, as a log-mel spectrogram, the window of the other at that time.

    Parameters
    ----------
    windows : pd.DataFrame
        ``track_id``, ``start_s`` (s) of each row of ``logmel``, a song's rows together and in time order.
    logmel : np.ndarray, shape (n_windows, n_mels, n_frames)
        Log-mel patches in dB (``logmel.npy``; a memmap is read only where needed).
    min_correlation : float
        Lowest correlation of two windows (each band's mean over the window removed) that every window
        pair must reach.
    tolerance_s : float
        Largest difference of the two songs' window starts (s), window by window.

    Returns
    -------
    list of (earlier track_id, later track_id, lowest window correlation), in the order of ``windows``.
    """
    if len(windows) == 0:
        return []
    ids = windows["track_id"].astype(str).to_numpy()
    starts = windows["start_s"].to_numpy(np.float64)
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    bounds = list(zip(first, np.r_[first[1:], len(ids)]))
    n = np.diff(np.r_[first, len(ids)])
    picks = np.stack([first + n // 4, first + n // 2, first + (3 * n) // 4], axis=1)  # (songs, 3)
    three = np.concatenate([_windows(logmel, picks[:, k]) for k in range(3)], axis=1)
    rng = np.random.default_rng(0)
    sketch = _standard(three @ rng.standard_normal((three.shape[1], SKETCH_DIM)))
    pairs = []
    for lo in range(0, len(bounds), _BLOCK):
        close = sketch[lo:lo + _BLOCK] @ sketch.T >= SKETCH_MIN
        for x, y in zip(*np.nonzero(close)):
            i, j = lo + int(x), int(y)
            (a0, a1), (b0, b1) = bounds[i], bounds[j]
            if j <= i or a1 - a0 != b1 - b0 or np.abs(starts[a0:a1] - starts[b0:b1]).max() > tolerance_s:
                continue
            low = float((_windows(logmel, np.arange(a0, a1)) * _windows(logmel, np.arange(b0, b1))).sum(axis=1).min())
            if low >= min_correlation:
                pairs.append((ids[a0], ids[b0], low))
    return pairs


def _windows(logmel, rows: np.ndarray) -> np.ndarray:
    """Windows ``rows`` as unit rows, each band's mean over the window removed: their dot products are
    correlations of how the sound moves, not of the spectral tilt every song shares."""
    X = np.asarray(logmel[rows], np.float64)
    X = X - X.mean(axis=2, keepdims=True)
    return _standard(X.reshape(len(rows), -1))


def _standard(A: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm: their dot products are Pearson correlations."""
    A = A - A.mean(axis=1, keepdims=True)
    return A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)


def notes(pairs, paths: dict[str, str]) -> list[dict]:
    """``audio_notes.csv`` rows (kept) for ``same_recordings``' pairs: each later song names its earliest twin.
    A song whose earliest twin has the same bytes gets none: validation's ``duplicate_audio`` row names it."""
    rows, seen = [], set()
    for a, b, low in pairs:  # earliest a first for every b
        if b in seen:
            continue
        seen.add(b)
        if not _same_bytes(paths[a], paths[b]):
            rows.append(dict(track_id=b, modality="audio", problem="same_recording", path=paths[b],
                             detail=f"the same recording as {paths[a]} (song {a}), in another file: every window "
                                    f"sounds the same (log-mel correlation at least {low:.3f}); kept: scored as a "
                                    f"song of its own, and the two are each other's nearest songs"))
    return rows


def _same_bytes(a: str, b: str) -> bool:
    return os.path.getsize(a) == os.path.getsize(b) and file_hash(a) == file_hash(b)
