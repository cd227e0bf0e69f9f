"""Audio in: decode a file once to mono float at the analysis rate, the analysis parameters, and windows.

What is computed from the decoded signal is ``descriptors``' job.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from songspace.cache import library_versions
from songspace.features.formats import FFMPEG_ONLY, container, decoder_for



FEATURE_VERSION = 5  # 4: a float file above full scale is rescaled to peak 1; cache entries carry decode notes
# 5: an MP3 without a Xing header is judged against mutagen's length (4 noted such files as truncated); only
#    the first MAX_DECODE_S of a longer file is decoded


def decode_libraries() -> dict:
    """Versions of what decodes, resamples and transforms the audio (part of every audio cache key):
    the decoders (libsndfile, PyAV's FFmpeg), soxr, librosa's filters and the FFT's numpy and scipy."""
    return {**library_versions("soundfile", "av", "soxr", "librosa", "numpy", "scipy"),
            "libsndfile": sf.__libsndfile_version__}


class AudioError(Exception):
    """A track's audio cannot be used; ``problem`` is a validation-report code
    (``missing_file``, ``unreadable_audio``, ``nonfinite_samples``, ``silent_audio``, ``too_short``)."""

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
                    n_fft=self.n_fft, hop_length=self.hop_length, silence_db=self.silence_db,
                    libs=decode_libraries())

    def descriptor_key(self) -> dict:
        """The parameters the descriptors depend on (cache key)."""
        return dict(self._common(), n_mfcc=self.n_mfcc, mfcc_n_mels=self.mfcc_n_mels)

    def logmel_key(self) -> dict:
        """The parameters the log-mel patches depend on (cache key)."""
        return dict(self._common(), n_mels=self.n_mels, patch_frames=self.patch_frames,
                    fmin=self.fmin, fmax=self.fmax)


# A decode this much shorter than the header's length is truncated (an intact MP3 decodes to within 0.01 s
# of mutagen's length; libsndfile's own frame count runs ~0.2 s long).
TRUNCATED_TOLERANCE_S = 0.5
# A longer file is analysed over its first 30 min: decoded whole, a 3-h DJ mix or album in one file would take
# ~7 GB per worker (a 60-min FLAC peaked at 2.4 GB) and end the batch on a laptop.
MAX_DECODE_S = 1800.0


@dataclass
class Decoded:
    """A decoded file before mixing: ``y`` (n_frames, n_channels) float32 at ``sr`` Hz; ``declared_s`` the
    length its header states (None if it states none); ``float_samples``: stored as floats (may exceed 1);
    ``error``: why decoding stopped before the end (None when it reached it); ``capped``: stopped at
    ``MAX_DECODE_S`` on purpose."""
    y: np.ndarray
    sr: int
    declared_s: float | None
    float_samples: bool
    decoder: str
    error: str | None = None
    capped: bool = False


def _declared_s(path, fallback: float | None) -> float | None:
    """The length a file's header states (mutagen: the RIFF/AIFF data size, an MP3's Xing frame count),
    or ``fallback``. libsndfile reports what is there, not what the header promised."""
    if _streamed_wav(path):
        return fallback
    try:
        import mutagen

        f = mutagen.File(path)
        length = getattr(getattr(f, "info", None), "length", None)
        return float(length) if length else fallback
    except Exception:  # a header mutagen cannot parse: the decoder's own count stands
        return fallback


def _streamed_wav(path) -> bool:
    """A WAV written by a recorder that streamed it: a RIFF size of 0 or 0xFFFFFFFF states no length."""
    with open(path, "rb") as f:
        head = f.read(8)
    return head[:4] == b"RIFF" and head[4:8] in (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00")


# soundfile's names of the formats whose header states a length that mutagen reads. libsndfile's own frame
# count for an MP3 without a Xing header is estimated from the file size, tags and cover art included.
HEADER_LENGTH_FORMATS = ("WAV", "WAVEX", "AIFF", "MP3")


def header_length(path, fmt: str, frames_s: float | None) -> float | None:
    """The length in seconds a libsndfile file of format ``fmt`` (``sf.info(path).format``) states: its
    header's (``_declared_s``) for ``HEADER_LENGTH_FORMATS``, else libsndfile's ``frames_s``."""
    return _declared_s(path, frames_s) if fmt in HEADER_LENGTH_FORMATS else frames_s


def ogg_ended(path) -> bool | None:
    """Whether an Ogg file's last page carries the end-of-stream flag (None: not an Ogg file). A cut-off
    Ogg file decodes cleanly to its last whole page and states no length: a missing end page shows it."""
    with open(path, "rb") as f:
        if f.read(4) != b"OggS":
            return None
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - 65536))  # an Ogg page is at most 65307 bytes: the last one starts in here
        tail = f.read()
    at = tail.rfind(b"OggS")
    return at >= 0 and len(tail) > at + 5 and bool(tail[at + 5] & 0x04)


def _read_soundfile(path, max_s: float = MAX_DECODE_S) -> Decoded:
    with sf.SoundFile(str(path)) as f:
        info_s = f.frames / f.samplerate if f.samplerate else None
        limit = int(max_s * f.samplerate)
        error, capped = None, f.frames > limit
        try:  # one read, as sf.read does: libsndfile's MP3 samples depend on the read sizes
            y = f.read(limit if capped else -1, dtype="float32", always_2d=True)
        except Exception as e:  # libsndfile stops with an error on damaged data part-way
            error = f"{type(e).__name__}: {e}"
            y = _salvage(f)
        fmt, floats, sr = f.format, f.subtype in ("FLOAT", "DOUBLE"), f.samplerate
    declared = header_length(path, fmt, info_s)
    return Decoded(y, sr, declared, floats, "soundfile", error, capped)


def _salvage(f) -> np.ndarray:
    """What decodes of a damaged file before the error, read again in blocks (an error loses one block)."""
    f.seek(0)
    blocks = []
    try:
        while True:
            block = f.read(1 << 15, dtype="float32", always_2d=True)
            if not len(block):
                break
            blocks.append(block)
    except Exception:  # the same damage again: keep the blocks before it
        pass
    return np.concatenate(blocks) if blocks else np.zeros((0, f.channels), np.float32)


def _read_av(path, max_s: float = MAX_DECODE_S) -> Decoded:
    import av

    with av.open(str(path), "r") as source:
        if not source.streams.audio:
            raise ValueError("no audio stream")
        stream = source.streams.audio[0]
        declared = float(stream.duration * stream.time_base) if stream.duration else \
            (source.duration / 1e6 if source.duration else None)
        floats = stream.codec_context.name.startswith("pcm_f")
        resampler = av.AudioResampler(format="fltp")  # the codec's sample format to float, rate and layout kept
        chunks, error, sr, n, capped = [], None, stream.codec_context.sample_rate, 0, False
        try:
            for frame in source.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    sr, n = out.sample_rate, n + out.samples
                if n >= max_s * sr:
                    capped = True
                    break
        except (av.error.FFmpegError, EOFError) as e:  # damaged data part-way: keep what decoded
            error = f"{type(e).__name__}: {e}"
    y = np.concatenate(chunks, axis=1).T if chunks else np.zeros((0, 1), np.float32)
    y = y[: int(max_s * sr)] if capped else y
    declared = _declared_s(path, declared)  # FFmpeg estimates an ASF file's length from its size: the header's
    return Decoded(np.ascontiguousarray(y, dtype=np.float32), int(sr), declared, floats, "av", error, capped)


_READERS = {"soundfile": _read_soundfile, "av": _read_av}


def read(path, decoder: str | None = None, max_s: float = MAX_DECODE_S) -> Decoded:
    """Decode all channels of a file, its first ``max_s`` seconds, with the decoder of the format it holds
    (``formats.decoder_for``); when that one cannot open the file, the other one (an ``.ogg`` holding Opus).
    ``decoder`` ("soundfile" or "av") forces one, with no fallback (the benchmark compares them).

    Raises ``AudioError`` (``unreadable_audio``) naming both decoders' errors when neither opens it.
    """
    if os.path.isfile(path) and os.path.getsize(path) == 0:  # both decoders' errors for it are cryptic ("[Errno 1094995529]")
        raise AudioError(path, "unreadable_audio", "empty file (0 bytes)")
    if os.path.isfile(path) and not os.access(path, os.R_OK):  # before ogg_ended opens it
        raise AudioError(path, "unreadable_audio", "cannot be opened (permission denied)")
    first = decoder or decoder_for(path)
    if decoder is None and first == "soundfile" and ogg_ended(path) is False:
        first = "av"  # libsndfile decodes nothing of a cut-off Ogg file; FFmpeg decodes its whole pages
    errors = []
    order = [first] if decoder else [first, "av" if first == "soundfile" else "soundfile"]
    for name in order:
        try:
            return _READERS[name](path, max_s=max_s)
        except Exception as e:  # each library has its own error types for a file it cannot open
            errors.append(f"{name}: {_open_error(e, path)}")
    raise AudioError(path, "unreadable_audio", f"not a decodable audio file ({'; '.join(errors)})")


def _open_error(e: Exception, path) -> str:
    """A decoder's error without the path the report row already names. libsndfile says "File does not exist
    or is not a regular file" for any format it does not know, which misleads for a file that is there."""
    text = str(e).replace(f"Error opening '{path}': ", "").replace(f": '{path}'", "")
    if "File does not exist or is not a regular file" in text and os.path.isfile(path):
        text = "not a format libsndfile knows"
    return f"{type(e).__name__}: {text}"


def decode_checked(path, sr: int = 22050, min_duration_s: float = 0.0,
                   decoder: str | None = None) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """``decode``, and the caveats of a file that was still used.

    Returns
    -------
    y : np.ndarray, shape (n_samples,), float32 mono at ``sr`` Hz, in [-1, 1]
    notes : list of (problem, detail): ``long_audio`` (only the first ``MAX_DECODE_S`` decoded),
        ``truncated`` (decoded only part of the length its header
        states, stopped on damaged data, or an Ogg stream without its end page; kept because at least
        ``min_duration_s`` s decoded)
        and ``out_of_range`` (a float file whose samples exceed full scale: rescaled to peak 1).

    Raises
    ------
    AudioError
        ``missing_file``, ``unreadable_audio`` (also: truncated to less than ``min_duration_s``),
        ``nonfinite_samples``, naming the file.
    """
    if not os.path.isfile(path):
        raise AudioError(path, "missing_file", "no such file")
    d = read(path, decoder, max_s=MAX_DECODE_S)  # the module's value at call time (the tests lower it)
    y, notes = d.y, []
    if y.size == 0:
        raise AudioError(path, "unreadable_audio", "no samples decoded" + (f" ({d.error})" if d.error else ""))
    got_s = len(y) / d.sr
    if d.capped:
        notes.append(("long_audio", f"only its first {got_s / 60:.1f} min analysed, of "
                                    f"{(d.declared_s or got_s) / 60:.1f} min (MAX_DECODE_S); kept"))
    short = d.declared_s is not None and got_s < d.declared_s - TRUNCATED_TOLERANCE_S and not d.capped
    unended = ogg_ended(path) is False
    if d.error or short or unended:
        of = f" of {d.declared_s:.1f}" if d.declared_s and short else ""
        why = (f"decoding stopped on damaged data ({d.error})" if d.error else
               "the file ends early" if short else "the Ogg stream has no end page: the file was cut off")
        if got_s < max(min_duration_s, 1e-9):
            raise AudioError(path, "unreadable_audio", f"truncated: {got_s:.1f}{of} s decoded, {why}; "
                             f"less than the {min_duration_s} s minimum")
        notes.append(("truncated", f"{got_s:.1f}{of} s decoded ({why}); kept: at least {min_duration_s} s"))
    if not np.isfinite(y).all():  # NaN/inf would poison every spectrum of the song
        bad = int((~np.isfinite(y)).any(axis=1).sum())
        raise AudioError(path, "nonfinite_samples", f"{bad} of {len(y)} samples are NaN or infinite: the file is damaged")
    if d.float_samples:
        peak = float(np.max(np.abs(y)))
        if peak > 1.0:  # lossy decoders overshoot a little and are left alone; stored floats are the file's own
            y = y / np.float32(peak)
            notes.append(("out_of_range", f"float samples peak at {peak:.3g} (> 1.0 full scale, "
                                          f"{20 * np.log10(peak):+.1f} dBFS): rescaled to peak 1.0 and kept"))
    # column sums: y.mean(axis=1) over a length-2 inner axis is ~25x slower than this on stereo
    mono = y[:, 0].copy()
    for c in range(1, y.shape[1]):
        mono += y[:, c]
    if y.shape[1] > 1:
        mono /= np.float32(y.shape[1])
    if d.sr != sr:
        mono = soxr.resample(mono, d.sr, sr, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32), notes


def decode(path, sr: int = 22050) -> np.ndarray:
    """Decode an audio file to mono float32 at ``sr`` Hz.

    Parameters
    ----------
    path : path-like
        WAV, AIFF, FLAC, OGG, MP3, CAF, W64, AU (libsndfile), M4A/MP4/M4B (AAC, ALAC), Opus, WMA, WavPack, WebM,
        MKA, MP2, AC3, TTA (PyAV); see ``formats.DECODERS``.
    sr : int
        Target sample rate in Hz (resampled with soxr).

    Returns
    -------
    y : np.ndarray, shape (n_samples,), float32, in [-1, 1]  (``decode_checked`` also says whether the
        file was truncated or rescaled)

    Raises
    ------
    AudioError
        ``missing_file``, ``unreadable_audio`` or ``nonfinite_samples`` (NaN/inf samples), naming the file.
    """
    return decode_checked(path, sr)[0]


def probe(path) -> tuple[float, int]:
    """(duration in s, sample rate in Hz) from a file's header, without decoding; raises ``AudioError``."""
    sf_error = ""
    if container(path) not in FFMPEG_ONLY:
        try:
            info = sf.info(str(path))
            return info.frames / info.samplerate, int(info.samplerate)
        except Exception as e:  # not a libsndfile format: FFmpeg's demuxer reads the header
            sf_error = f"libsndfile: {e}; "
    try:
        import av

        with av.open(str(path), "r") as c:
            st = c.streams.audio[0]
            dur = float(st.duration * st.time_base) if st.duration else (c.duration or 0) / 1e6
            rate = int(st.codec_context.sample_rate or 0)
    except Exception as e:
        raise AudioError(path, "unreadable_audio", f"not a decodable audio file (corrupt or unsupported "
                         f"format; {sf_error}FFmpeg: {type(e).__name__}: {e})") from e
    if rate <= 0:  # FFmpeg's demuxers "open" some non-audio files (text named .flac) as a stream of no rate
        raise AudioError(path, "unreadable_audio", "not a decodable audio file: its audio stream has no sample rate"
                         + (f" ({sf_error.rstrip('; ')})" if sf_error else ""))
    return dur, rate


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
