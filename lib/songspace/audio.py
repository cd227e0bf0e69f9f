"""Audio: decode once, cut into windows, frame-level features from one STFT, pooled per window.

Everything per track is computed once at frame level (one power spectrogram, one onset envelope)
and then pooled per window by frame-index ranges, never recomputed per window.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass

import librosa
import numpy as np
import soundfile as sf
import soxr

# Bump when the feature code changes in a way that changes numbers: invalidates caches.
FEATURE_VERSION = 1
DB_FLOOR = -100.0  # dB value of silence in log-mel (10*log10(amin) with amin=1e-10)
TEMPO_STEP = 4  # tempogram evaluated every 4th frame (~93 ms): plenty for an 8 s context
PITCHES = ["C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B"]


class AudioError(Exception):
    """A track's audio cannot be used; ``problem`` is a validation-report code
    (``missing_file``, ``unreadable_audio``, ``silent_audio``, ``too_short``)."""

    def __init__(self, path, problem: str, detail: str):
        self.path, self.problem, self.detail = str(path), problem, detail
        super().__init__(f"{path}: {problem}: {detail}")


@dataclass
class AudioParams:
    """Parameters of decoding, windowing and features (seconds, Hz, samples, frames).

    ``mfcc_n_mels`` is the mel bank behind MFCCs/onsets and ``n_mels`` the one of the log-mel
    patches, so changing ``n_mels`` does not invalidate the descriptors.
    A window is ``window_s`` long every ``hop_s``; a last partial window is dropped.
    Patch i holds the ``patch_frames`` STFT frames starting at window i's first frame.
    """
    sr: int = 22050
    window_s: float = 3.0
    hop_s: float = 1.5
    n_fft: int = 2048
    hop_length: int = 512
    n_mfcc: int = 20
    mfcc_n_mels: int = 128
    n_mels: int = 64
    patch_frames: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    silence_db: float = -60.0  # a track whose peak is below this (dBFS) is silent

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def _common(self) -> dict:
        return dict(v=FEATURE_VERSION, sr=self.sr, window_s=self.window_s, hop_s=self.hop_s,
                    n_fft=self.n_fft, hop_length=self.hop_length, silence_db=self.silence_db)

    def descriptor_key(self) -> dict:
        """The parameters the descriptors depend on (cache key)."""
        return dict(self._common(), n_mfcc=self.n_mfcc, mfcc_n_mels=self.mfcc_n_mels)

    def logmel_key(self) -> dict:
        """The parameters the log-mel patches depend on (cache key)."""
        return dict(self._common(), n_mels=self.n_mels, patch_frames=self.patch_frames,
                    fmin=self.fmin, fmax=self.fmax)


def decode(path, sr: int = 22050) -> np.ndarray:
    """Decode an audio file to mono float32 at ``sr`` Hz.

    Parameters
    ----------
    path : path-like
        Any format libsndfile reads (WAV, FLAC, OGG, MP3).
    sr : int
        Target sample rate in Hz (resampled with soxr).

    Returns
    -------
    y : np.ndarray, shape (n_samples,), float32, in [-1, 1]

    Raises
    ------
    AudioError
        ``missing_file`` or ``unreadable_audio``, naming the file.
    """
    if not os.path.isfile(path):
        raise AudioError(path, "missing_file", "no such file")
    try:
        y, sr_in = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile reports corrupt/unsupported files with several types
        raise AudioError(path, "unreadable_audio", f"{type(e).__name__}: {e}") from e
    if y.size == 0:
        raise AudioError(path, "unreadable_audio", "no samples decoded")
    y = y.mean(axis=1)
    if sr_in != sr:
        y = soxr.resample(y, sr_in, sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def window_starts(n_samples: int, sr: int, window_s: float, hop_s: float) -> np.ndarray:
    """Start sample of every full window; a last partial window is dropped.

    Returns
    -------
    starts : np.ndarray of int64, shape (n_windows,)  (empty if shorter than one window)
    """
    win, hop = int(round(window_s * sr)), int(round(hop_s * sr))
    if n_samples < win:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - win + 1, hop, dtype=np.int64)


def descriptor_names(params: AudioParams) -> list[str]:
    """Column names of the pooled descriptor vector, in order (``<feature>_mean``/``_std``, ``tempo_bpm``)."""
    rows = ([f"mfcc{i:02d}" for i in range(1, params.n_mfcc + 1)]
            + [f"dmfcc{i:02d}" for i in range(1, params.n_mfcc + 1)]
            + ["centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms"]
            + [f"contrast{i:02d}" for i in range(1, 8)]
            + [f"chroma_{p}" for p in PITCHES])
    return [f"{r}_{s}" for r in rows for s in ("mean", "std")] + ["tempo_bpm"]


def _power_spec(y: np.ndarray, p: AudioParams) -> np.ndarray:
    return np.abs(librosa.stft(y, n_fft=p.n_fft, hop_length=p.hop_length)) ** 2


def _mel(S_pow: np.ndarray, basis: np.ndarray) -> np.ndarray:
    # the STFT is frame-contiguous (Fortran order): this product order is the fast one for BLAS
    return (S_pow.T @ basis.T).T


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)


def _tempogram(onset: np.ndarray, p: AudioParams, step: int = TEMPO_STEP) -> np.ndarray:
    """librosa's autocorrelation tempogram (8 s context), evaluated every ``step`` frames only."""
    win = int(round(8.0 * p.sr / p.hop_length))
    n = len(onset)
    padded = np.pad(onset, win // 2, mode="linear_ramp", end_values=[0, 0])
    frames = librosa.util.frame(padded, frame_length=win, hop_length=1)[:, :n:step]
    ac = librosa.autocorrelate(frames * librosa.filters.get_window("hann", win, fftbins=True)[:, None], axis=0)
    return librosa.util.normalize(ac, norm=np.inf, axis=0)


def frame_descriptors(y: np.ndarray, p: AudioParams, S_pow: np.ndarray | None = None):
    """Frame-level descriptors of one track and its local tempogram, all from one power spectrogram.

    Centroid, bandwidth, roll-off (85 %), flatness and ZCR are computed here in plain numpy with
    librosa's definitions (librosa's own versions normalise a copy of the spectrogram per call).

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
    mel_db = librosa.power_to_db(_mel(S_pow, _mel_basis(p.sr, p.n_fft, p.mfcc_n_mels)), ref=1.0, amin=1e-10, top_db=None)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=p.n_mfcc)
    dmfcc = librosa.feature.delta(mfcc)

    freqs = librosa.fft_frequencies(sr=p.sr, n_fft=p.n_fft).astype(np.float32)
    total = S_mag.sum(axis=0) + 1e-12
    centroid = (freqs @ S_mag) / total
    bandwidth = np.sqrt(np.maximum(((freqs / 1000) ** 2 @ S_mag) / total * 1e6 - centroid ** 2, 0.0))
    rolloff = freqs[np.argmax(np.cumsum(S_mag, axis=0) >= 0.85 * total, axis=0)]
    S_floor = np.maximum(S_pow, np.float32(1e-10))
    flatness = np.exp(np.log(S_floor).mean(axis=0)) / S_floor.mean(axis=0)
    rms = np.sqrt(np.maximum(2 * S_pow.sum(axis=0) - S_pow[0] - S_pow[-1], 0) / p.n_fft ** 2)
    # zero crossings per sample, summed over each centred frame of n_fft samples
    cross = np.concatenate([[0], np.cumsum(np.signbit(y[1:]) != np.signbit(y[:-1]))])
    centres = np.arange(n) * p.hop_length
    lo = np.clip(centres - p.n_fft // 2, 0, len(y) - 1)
    hi = np.clip(centres + p.n_fft // 2, 0, len(y) - 1)
    zcr = (cross[hi] - cross[lo]) / p.n_fft

    contrast = librosa.feature.spectral_contrast(S=S_mag, sr=p.sr, n_fft=p.n_fft)
    # tuning=0 skips librosa's pitch-tracking tuning estimate, the slowest step by far
    chroma = librosa.feature.chroma_stft(S=S_pow, sr=p.sr, tuning=0.0)
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
    mel = _mel(S_pow, _mel_basis(p.sr, p.n_fft, p.n_mels, p.fmin, p.fmax))
    mel_db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).astype(np.float32)
    mel_db = np.pad(mel_db, ((0, 0), (0, p.patch_frames)), constant_values=DB_FLOOR)
    f0, _ = frame_ranges(starts, p)
    idx = f0[:, None] + np.arange(p.patch_frames)
    return np.ascontiguousarray(mel_db[:, idx].transpose(1, 0, 2))


def check_usable(y: np.ndarray, path, p: AudioParams) -> np.ndarray:
    """Window starts of ``y``; raises ``AudioError`` (``silent_audio``/``too_short``) if unusable."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak < 10 ** (p.silence_db / 20):
        raise AudioError(path, "silent_audio", f"peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS < {p.silence_db} dBFS")
    starts = window_starts(len(y), p.sr, p.window_s, p.hop_s)
    if len(starts) == 0:
        raise AudioError(path, "too_short", f"{len(y) / p.sr:.2f} s < one window of {p.window_s} s")
    return starts
