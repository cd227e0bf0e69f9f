"""Audio in: decode a file once to mono float at the analysis rate, the analysis parameters, and windows.

What is computed from the decoded signal is ``descriptors``' job.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr



FEATURE_VERSION = 3


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
    patches, so changing ``n_mels`` does not invalidate the descriptors. ``musicnn_max_patches``: at most
    this many of a track's 3-s musicnn patches, evenly spaced, are embedded (None: all of them).
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
    musicnn_max_patches: int | None = None

    def __post_init__(self):
        if self.musicnn_max_patches is not None and self.musicnn_max_patches < 1:
            raise ValueError("musicnn_max_patches must be None (every patch) or at least 1, "
                             f"got {self.musicnn_max_patches}")

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


NEEDS_FFMPEG = (".m4a", ".aac", ".mp4", ".opus", ".wma")  # libsndfile cannot read these


def _ffmpeg_mono(path, sr: int | None) -> tuple[np.ndarray, int]:
    """Decode with the ffmpeg program (formats libsndfile lacks) to mono float32, at ``sr`` if given."""
    if shutil.which("ffmpeg") is None:
        raise AudioError(path, "unsupported_format",
                         f"{Path(path).suffix} needs the ffmpeg program to decode (e.g. apt-get install ffmpeg)")
    rate = sr or 44100
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", str(rate), "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(path, "unreadable_audio", f"ffmpeg cannot decode it: {msg[-1] if msg else 'no samples'}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy(), rate


def probe_ffmpeg_format(path) -> tuple[str, str] | None:
    """(problem, detail) for a file only ffmpeg decodes, or None when it decodes to finite samples."""
    try:
        y, _ = _ffmpeg_mono(path, 16000)
    except AudioError as e:
        return e.problem, e.detail
    if not np.isfinite(y).all():
        return "nonfinite_samples", "NaN or infinite samples: the file is damaged"
    return None


def decode(path, sr: int = 22050) -> np.ndarray:
    """Decode an audio file to mono float32 at ``sr`` Hz.

    Parameters
    ----------
    path : path-like
        Any format libsndfile reads (WAV, FLAC, OGG, MP3); M4A/AAC/Opus/WMA through the ffmpeg
        program where it is installed.
    sr : int
        Target sample rate in Hz (resampled with soxr).

    Returns
    -------
    y : np.ndarray, shape (n_samples,), float32, in [-1, 1]

    Raises
    ------
    AudioError
        ``missing_file``, ``unreadable_audio``, ``unsupported_format`` or ``nonfinite_samples``
        (NaN/inf samples), naming the file.
    """
    if not os.path.isfile(path):
        raise AudioError(path, "missing_file", "no such file")
    if Path(path).suffix.lower() in NEEDS_FFMPEG:
        y, sr_in = _ffmpeg_mono(path, sr)
        y = y[:, None]
    else:
        try:
            y, sr_in = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as e:  # libsndfile reports corrupt/unsupported files with several types
            raise AudioError(path, "unreadable_audio", f"not a decodable audio file ({type(e).__name__}: {e})") from e
    if y.size == 0:
        raise AudioError(path, "unreadable_audio", "no samples decoded")
    if not np.isfinite(y).all():  # NaN/inf would poison every spectrum of the song
        bad = int((~np.isfinite(y)).any(axis=1).sum())
        raise AudioError(path, "nonfinite_samples", f"{bad} of {len(y)} samples are NaN or infinite: the file is damaged")
    # column sums: y.mean(axis=1) over a length-2 inner axis is ~25x slower than this on stereo
    mono = y[:, 0].copy()
    for c in range(1, y.shape[1]):
        mono += y[:, c]
    if y.shape[1] > 1:
        mono /= np.float32(y.shape[1])
    y = mono
    if sr_in != sr:
        y = soxr.resample(y, sr_in, sr, quality="HQ")
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


def check_usable(y: np.ndarray, path, p: AudioParams) -> np.ndarray:
    """Window starts of ``y``; raises ``AudioError`` (``silent_audio``/``too_short``) if unusable."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak < 10 ** (p.silence_db / 20):
        raise AudioError(path, "silent_audio", f"peak {20 * np.log10(max(peak, 1e-12)):.1f} dBFS < {p.silence_db} dBFS")
    starts = window_starts(len(y), p.sr, p.window_s, p.hop_s)
    if len(starts) == 0:
        raise AudioError(path, "too_short", f"{len(y) / p.sr:.2f} s < one window of {p.window_s} s")
    return starts
