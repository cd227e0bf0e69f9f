"""Frame-level audio descriptors from one power spectrogram, pooled per window and per track.

Everything per track is computed once at frame level (one STFT, one onset envelope) and then pooled per
window by frame-index ranges, never recomputed per window; log-mel patches come from the same spectrogram.
"""
from __future__ import annotations

import functools

import librosa
import numpy as np
import scipy.fft

from songspace.features.audio import AudioParams

# Bump when the feature code changes in a way that changes numbers: invalidates caches.
# 2: scipy STFT and the numpy re-implementations below (differences ~1e-6 relative).
# 3: MFCC deltas from one fixed slope kernel (``_delta``; differences ~1e-6 relative).
DB_FLOOR = -100.0  # dB value of silence in log-mel (10*log10(amin) with amin=1e-10)
TEMPO_STEP = 4  # tempogram evaluated every 4th frame (~93 ms): plenty for an 8 s context
PITCHES = ["C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B"]


def descriptor_names(params: AudioParams) -> list[str]:
    """Column names of the pooled descriptor vector, in order (``<feature>_mean``/``_std``, ``tempo_bpm``)."""
    rows = ([f"mfcc{i:02d}" for i in range(1, params.n_mfcc + 1)]
            + [f"dmfcc{i:02d}" for i in range(1, params.n_mfcc + 1)]
            + ["centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms"]
            + [f"contrast{i:02d}" for i in range(1, 8)]
            + [f"chroma_{p}" for p in PITCHES])
    return [f"{r}_{s}" for r in rows for s in ("mean", "std")] + ["tempo_bpm"]


def _power_spec(y: np.ndarray, p: AudioParams, chunk: int = 64) -> np.ndarray:
    """|STFT|^2 as librosa.stft (centred, zero-padded, periodic Hann), frame-contiguous.

    The FFT runs in float64 like numpy's (a float32 FFT's absolute error, ~1e-7 of a frame's
    peak, swamps the quiet bins that spectral-contrast valleys read), but with scipy.fft on
    cache-sized chunks of frames, ~1.4x faster than librosa.stft here.

    Returns
    -------
    S_pow : np.ndarray, shape (1 + n_fft // 2, 1 + len(y) // hop_length), float32 (Fortran order)
    """
    win = _hann(p.n_fft)  # float64
    y = np.asarray(y, dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, p.n_fft // 2), p.n_fft)[::p.hop_length]
    out = np.empty((len(frames), p.n_fft // 2 + 1), dtype=np.float32)
    for i in range(0, len(frames), chunk):
        D = scipy.fft.rfft(frames[i:i + chunk] * win, axis=1, overwrite_x=True)
        v = D.view(np.float64)  # (re, im) pairs
        v *= v
        np.add(v[:, 0::2], v[:, 1::2], out=out[i:i + chunk], casting="same_kind")
    return out.T


@functools.lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    """Periodic Hann window of ``n`` samples, float64, built once per process (scipy builds it per call)."""
    w = librosa.filters.get_window("hann", n, fftbins=True)
    w.flags.writeable = False
    return w


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


@functools.lru_cache(maxsize=8)
def _mel_bands(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None, groups: int = 16):
    """The mel basis cut into groups of adjacent filters, each kept only over the FFT bins where it is
    non-zero: (first filter, end filter, first bin, end bin, basis block transposed)."""
    B = _mel_basis(sr, n_fft, n_mels, fmin, fmax)
    out = []
    for g in np.array_split(np.arange(n_mels), min(groups, n_mels)):
        nz = np.flatnonzero((B[g] != 0).any(axis=0))
        lo, hi = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 1)
        out.append((int(g[0]), int(g[-1]) + 1, lo, hi, np.ascontiguousarray(B[g[0]:g[-1] + 1, lo:hi].T)))
    return out


@functools.lru_cache(maxsize=4)
def _chroma_basis(sr: int, n_fft: int) -> np.ndarray:
    """Chroma filterbank, shape (12, 1 + n_fft // 2), float32."""
    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=0.0)


def _mel(S_pow: np.ndarray, sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Mel power spectrogram ``basis @ S_pow``, shape (n_mels, n_frames), float32.

    The mel basis is ~95 % zeros: multiplying each group of filters by its own band of bins
    does ~15x fewer flops than the dense product and gives the same numbers up to rounding.
    """
    St = S_pow.T  # (n_frames, n_bins), C-contiguous when S_pow is frame-contiguous
    out = np.empty((St.shape[0], n_mels), dtype=np.float32)
    for a, b, lo, hi, Bt in _mel_bands(sr, n_fft, n_mels, fmin, fmax):
        out[:, a:b] = St[:, lo:hi] @ Bt
    return out.T


def _tempogram(onset: np.ndarray, p: AudioParams, step: int = TEMPO_STEP) -> np.ndarray:
    """librosa's autocorrelation tempogram (8 s context), evaluated every ``step`` frames only.

    Same computation as ``librosa.feature.tempogram`` (linear-ramp padding, Hann window, FFT
    autocorrelation, max-normalisation per column), in float32 with scipy.fft.
    """
    win = int(round(8.0 * p.sr / p.hop_length))
    n = len(onset)
    padded = np.pad(onset.astype(np.float32), win // 2, mode="linear_ramp", end_values=[0, 0])
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[:n:step]  # (n_cols, win)
    x = frames * _hann(win).astype(np.float32)
    n_pad = scipy.fft.next_fast_len(2 * win - 1, real=True)
    X = scipy.fft.rfft(x, n=n_pad, axis=1)
    ac = scipy.fft.irfft(X.real ** 2 + X.imag ** 2, n=n_pad, axis=1)[:, :win]
    return librosa.util.normalize(ac.T, norm=np.inf, axis=0)


def _rolloff(S_mag: np.ndarray, freqs: np.ndarray, roll_percent: float = 0.85, block: int = 32) -> np.ndarray:
    """librosa's spectral roll-off: the first bin where the cumulative magnitude reaches
    ``roll_percent`` of the frame's total, shape (n_frames,), Hz.

    Two-level search: cumulative sums of blocks of ``block`` bins locate the block, then a
    cumulative sum inside that block only (the full per-bin cumsum was the slow part).
    """
    St = S_mag.T  # (n_frames, n_bins)
    n, nb = St.shape
    nblk = nb // block  # the last block also takes the few bins past nblk * block
    cb = np.cumsum(np.add.reduceat(St, np.arange(0, nblk * block, block), axis=1), axis=1, dtype=np.float64)
    thr = roll_percent * cb[:, -1]
    b = np.minimum((cb < thr[:, None]).sum(axis=1), nblk - 1)  # cb is non-decreasing
    before = np.where(b > 0, cb[np.arange(n), np.maximum(b - 1, 0)], 0.0)
    cols = np.minimum(b[:, None] * block + np.arange(block + nb - nblk * block), nb - 1)
    cs = before[:, None] + np.cumsum(np.take_along_axis(St, cols, axis=1), axis=1, dtype=np.float64)
    k = np.minimum((cs < thr[:, None]).sum(axis=1), cols.shape[1] - 1)
    return freqs[cols[np.arange(n), k]]


def _contrast(S_mag: np.ndarray, p: AudioParams, n_bands: int = 6, fmin: float = 200.0,
              quantile: float = 0.02) -> np.ndarray:
    """``librosa.feature.spectral_contrast`` (same octave bands, quantiles and dB), shape (n_bands + 1, n_frames).

    librosa copies each sub-band with a boolean mask and averages in float64; here each band is a
    slice sorted along the contiguous frequency axis.
    """
    freqs = librosa.fft_frequencies(sr=p.sr, n_fft=p.n_fft)
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * 2.0 ** np.arange(n_bands + 1)
    n = S_mag.shape[1]
    valley, peak = np.empty((n_bands + 1, n)), np.empty((n_bands + 1, n))
    for k in range(n_bands + 1):
        idx = np.flatnonzero((freqs >= octa[k]) & (freqs <= octa[k + 1]))
        lo = idx[0] - 1 if k > 0 else idx[0]
        hi = len(freqs) if k == n_bands else idx[-1] + 1
        q = max(1, int(np.rint(quantile * (hi - lo))))  # librosa counts the band before dropping its top bin
        if k < n_bands:
            hi -= 1
        s = np.sort(S_mag[lo:hi], axis=0)
        valley[k] = s[:q].mean(axis=0)
        peak[k] = s[-q:].mean(axis=0)
    return librosa.power_to_db(peak) - librosa.power_to_db(valley)


def _delta(F: np.ndarray, width: int = 9) -> np.ndarray:
    """``librosa.feature.delta(F, width=width)`` (first order, ``mode="interp"``), shape ``F.shape``.

    librosa runs scipy's Savitzky-Golay filter, which refits its filter and both edge polynomials by
    least squares on every call (about 1 ms a track: a tenth of a 5-s clip's extraction). With
    polynomial order 1 the derivative is the least-squares slope over ``width`` frames, one fixed
    kernel, and "interp" gives the first and last ``width // 2`` frames the slope of the first and
    last full window.
    """
    h = width // 2
    if F.shape[1] < width:  # librosa's own error for too few frames
        return librosa.feature.delta(F, width=width)
    slope = np.arange(-h, h + 1, dtype=F.dtype) / F.dtype.type(2 * sum(i * i for i in range(1, h + 1)))
    inner = np.lib.stride_tricks.sliding_window_view(F, width, axis=1) @ slope  # (rows, n - 2h)
    return np.concatenate([np.repeat(inner[:, :1], h, axis=1), inner, np.repeat(inner[:, -1:], h, axis=1)], axis=1)


def _flatness(S_pow: np.ndarray, mean_w: np.ndarray, chunk: int = 256) -> np.ndarray:
    """librosa's spectral flatness (power 2, amin 1e-10), shape (n_frames,); ``mean_w`` = 1/n_bins weights.

    Chunks of frames keep the floored and logged copy in cache instead of a full-size temporary.
    """
    out = np.empty(S_pow.shape[1], dtype=np.float32)
    for i in range(0, S_pow.shape[1], chunk):
        s = np.maximum(S_pow[:, i:i + chunk], np.float32(1e-10))
        arith = mean_w @ s
        out[i:i + chunk] = np.exp(mean_w @ np.log(s, out=s)) / arith
    return out


def _zcr(y: np.ndarray, n_frames: int, p: AudioParams) -> np.ndarray:
    """Zero crossings per sample in each centred frame of ``n_fft`` samples, shape (n_frames,).

    Sign changes are counted per hop-sized block, then summed over the frame's blocks when frame
    edges fall on block edges (``n_fft`` a multiple of ``2 * hop_length``), else read from a
    per-sample cumulative count (same numbers, ~5x slower).
    """
    h = p.hop_length
    s = np.signbit(y)
    nblk = len(y) // h + 1
    c = np.zeros(nblk * h + 1, dtype=bool)  # c[j]: sign change between samples j-1 and j
    np.not_equal(s[1:], s[:-1], out=c[1:len(y)])
    if p.n_fft % (2 * h):
        cross = np.cumsum(c)
        centres = np.arange(n_frames) * h
        lo = np.clip(centres - p.n_fft // 2, 0, len(y) - 1)
        hi = np.clip(centres + p.n_fft // 2, 0, len(y) - 1)
        return (cross[hi] - cross[lo]) / p.n_fft
    cross = np.concatenate([[0], np.cumsum(np.count_nonzero(c[1:].reshape(nblk, h), axis=1))])  # at j = m*h
    k, r = np.arange(n_frames), p.n_fft // (2 * h)
    return (cross[np.clip(k + r, 0, nblk)] - cross[np.clip(k - r, 0, nblk)]) / p.n_fft


def frame_descriptors(y: np.ndarray, p: AudioParams, S_pow: np.ndarray | None = None):
    """Frame-level descriptors of one track and its local tempogram, all from one power spectrogram.

    Centroid, bandwidth, roll-off (85 %), flatness, ZCR, contrast and chroma are computed here in
    plain numpy with librosa's definitions (librosa's own versions copy or normalise the spectrogram
    per call); tests check them against librosa's functions.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    p : AudioParams
    S_pow : np.ndarray, shape (1 + n_fft // 2, n_frames), optional
        Power spectrogram of ``y`` if already computed.

    Returns
    -------
    F : np.ndarray, shape (n_rows, n_frames), float64
        One row per frame feature (``descriptor_names`` before pooling, without tempo).
    tg : np.ndarray, shape (n_lags, ceil(n_frames / TEMPO_STEP))
        Autocorrelation tempogram of the onset envelope (8 s context), every ``TEMPO_STEP`` frames.
    """
    if S_pow is None:
        S_pow = _power_spec(y, p)
    n = S_pow.shape[1]
    S_mag = np.sqrt(S_pow)
    mel_db = librosa.power_to_db(_mel(S_pow, p.sr, p.n_fft, p.mfcc_n_mels), ref=1.0, amin=1e-10, top_db=None)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=p.n_mfcc)
    dmfcc = _delta(mfcc)

    freqs = librosa.fft_frequencies(sr=p.sr, n_fft=p.n_fft).astype(np.float32)
    mean_w = np.full(len(freqs), 1 / len(freqs), dtype=np.float32)  # sums over bins as BLAS products: ~2x faster
    total = mean_w @ S_mag * len(freqs) + 1e-12
    centroid = (freqs @ S_mag) / total
    bandwidth = np.sqrt(np.maximum(((freqs / 1000) ** 2 @ S_mag) / total * 1e6 - centroid ** 2, 0.0))
    rolloff = _rolloff(S_mag, freqs)
    flatness = _flatness(S_pow, mean_w)
    rms = np.sqrt(np.maximum(2 * len(freqs) * (mean_w @ S_pow) - S_pow[0] - S_pow[-1], 0) / p.n_fft ** 2)
    zcr = _zcr(y, n, p)
    contrast = _contrast(S_mag, p)
    # librosa.feature.chroma_stft(S=S_pow, tuning=0.0) with its filterbank built once per process;
    # tuning=0 skips librosa's pitch-tracking tuning estimate, the slowest step by far
    chroma = librosa.util.normalize(_chroma_basis(p.sr, p.n_fft) @ S_pow, norm=np.inf, axis=0)
    F = np.vstack([mfcc, dmfcc, centroid, bandwidth, rolloff, flatness, zcr, rms, contrast, chroma]).astype(np.float64)
    onset = librosa.onset.onset_strength(S=mel_db, sr=p.sr)
    return np.nan_to_num(F), _tempogram(onset, p)


def frame_ranges(starts: np.ndarray, p: AudioParams) -> tuple[np.ndarray, int]:
    """First STFT frame of each window and the number of frames per window."""
    f0 = np.round(starts / p.hop_length).astype(np.int64)
    k = max(1, int(round(p.window_s * p.sr / p.hop_length)))
    return f0, k


def pool_windows(F: np.ndarray, tg: np.ndarray, starts: np.ndarray, p: AudioParams) -> np.ndarray:
    """Mean and std of every frame feature per window, plus the window's tempo (vectorised).

    ``tempo_bpm`` is librosa's prior-weighted tempo of the window's mean local tempogram; each
    tempogram column looks at 8 s of onsets centred on its frame, so a 3 s window's tempo also
    hears up to ~4 s around it (a tempo from 3 s alone would rest on a handful of beats).

    Returns
    -------
    D : np.ndarray, shape (n_windows, len(descriptor_names(p))), float32
    """
    f0, k = frame_ranges(starts, p)
    idx = np.minimum(f0[:, None] + np.arange(k), F.shape[1] - 1)  # (n_win, k)
    X = F[:, idx]  # (n_rows, n_win, k)
    stats = np.stack([X.mean(axis=2), X.std(axis=2)], axis=2)  # (n_rows, n_win, 2)
    stats = stats.transpose(1, 0, 2).reshape(len(starts), -1)
    t0 = -(-f0 // TEMPO_STEP)  # first tempogram column inside the window
    kt = max(1, k // TEMPO_STEP)
    tg_win = tg[:, np.minimum(t0[:, None] + np.arange(kt), tg.shape[1] - 1)].mean(axis=2)  # (lags, n_win)
    bpm = librosa.feature.tempo(tg=tg_win, sr=p.sr, hop_length=p.hop_length, aggregate=None)
    return np.hstack([stats, bpm[:, None]]).astype(np.float32)


def pool_track(F: np.ndarray, tg: np.ndarray, p: AudioParams) -> np.ndarray:
    """Mean and std of every frame feature over the whole track, plus its tempo.

    Returns
    -------
    d : np.ndarray, shape (len(descriptor_names(p)),), float32
    """
    stats = np.stack([F.mean(axis=1), F.std(axis=1)], axis=1).reshape(-1)
    bpm = librosa.feature.tempo(tg=tg.mean(axis=1, keepdims=True), sr=p.sr, hop_length=p.hop_length, aggregate=None)
    return np.concatenate([stats, bpm]).astype(np.float32)


def logmel_patches(S_pow: np.ndarray, starts: np.ndarray, p: AudioParams) -> np.ndarray:
    """Log-mel (dB, ref 1.0, un-normalised) patches, one per window.

    Returns
    -------
    P : np.ndarray, shape (n_windows, n_mels, patch_frames), float32
        Frames past the end of the track are filled with ``DB_FLOOR``.
    """
    mel = _mel(S_pow, p.sr, p.n_fft, p.n_mels, p.fmin, p.fmax)
    mel_db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)
    mel_db = np.pad(mel_db, ((0, 0), (0, p.patch_frames)), constant_values=DB_FLOOR)
    f0, _ = frame_ranges(starts, p)
    idx = f0[:, None] + np.arange(p.patch_frames)
    return np.ascontiguousarray(mel_db[:, idx].transpose(1, 0, 2))
