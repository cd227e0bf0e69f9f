"""The I/O sections of tools/bench.py: ``formats`` (decode speed per format and decoder) and ``scan``
(tags and headers of a large library).

``formats`` writes one source signal (a real MP3 of the corpus when there is one, else a synthetic
stereo tone) in every format the decoder reads, then decodes each file to mono 22.05 kHz float with each
decoder that opens it (libsndfile via soundfile, FFmpeg via PyAV): best of ``--format-repeats``, as x
realtime, beside the decoder ``formats.DECODERS`` uses for that format. ``scan`` builds
``--scan-files`` tiny tagged MP3s in the work folder (distinct tags each) and times what 00 does with
them: ``load_dataset`` (scan, tags) + ``validate(check_silence=False)`` (headers), against ``--scan-budget``.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import soxr
from songspace.features import audio, formats

log = logging.getLogger("songspace.bench")

SF_WRITE = {".wav": ("WAV", "PCM_16"), ".aiff": ("AIFF", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
            ".ogg": ("OGG", "VORBIS"), ".opus": ("OGG", "OPUS"), ".mp3": ("MP3", "MPEG_LAYER_III")}
AV_WRITE = {".m4a": ("ipod", "aac", 44100), ".wma": ("asf", "wmav2", 44100)}


def add_arguments(ap) -> None:
    ap.add_argument("--format-seconds", type=float, default=60.0, help="seconds of audio per format file")
    ap.add_argument("--format-repeats", type=int, default=3, help="decodes per (format, decoder); the best counts")
    ap.add_argument("--scan-files", type=int, default=10000, help="files of the scan section's library")
    ap.add_argument("--scan-budget", type=float, default=60.0, help="seconds the scan may take")


def source_signal(jamendo: Path, seconds: float) -> tuple[np.ndarray, int, str]:
    """(y (n, 2) float32, sr, what): the first corpus MP3's first ``seconds``, else a synthetic tone."""
    mp3s = sorted((Path(jamendo) / "mp3").glob("*.mp3")) if jamendo else []
    if mp3s:
        y, sr = sf.read(mp3s[0], dtype="float32", always_2d=True, frames=int(seconds * 44100))
        if y.shape[1] == 1:
            y = np.repeat(y, 2, axis=1)
        return y[:, :2], sr, f"{mp3s[0].name} (first {len(y) / sr:.0f} s)"
    sr = 44100
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    y = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None] + 0.05 * rng.standard_normal((len(t), 2))
    return y.astype(np.float32), sr, f"synthetic stereo tone ({seconds:.0f} s)"


def write_format(path: Path, y: np.ndarray, sr: int) -> Path:
    """``y`` (n, 2) written in the format of ``path``'s suffix (libsndfile, else PyAV's encoders)."""
    import av

    suffix = path.suffix
    if suffix in SF_WRITE:
        fmt, subtype = SF_WRITE[suffix]
        rate = 48000 if subtype == "OPUS" else sr
        z = soxr.resample(y, sr, rate) if rate != sr else y
        with sf.SoundFile(path, "w", rate, z.shape[1], subtype, format=fmt) as f:
            for i in range(0, len(z), 1 << 15):  # in blocks: one large Ogg write crashes libsndfile 1.2
                f.write(z[i:i + (1 << 15)])
        return path
    container, codec, rate = AV_WRITE[suffix]
    z = (soxr.resample(y, sr, rate) if rate != sr else y).astype(np.float32)
    with av.open(str(path), "w", format=container) as out:
        st = out.add_stream(codec, rate=rate, layout="stereo")
        st.bit_rate = 128000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(z.T), format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in [*st.encode(frame), *st.encode(None)]:
            out.mux(packet)
    return path


def bench_formats(args) -> pd.DataFrame:
    """x realtime of decoding each format with each decoder that opens it; which one ``DECODERS`` uses."""
    work = Path(args.work) / "formats"
    work.mkdir(parents=True, exist_ok=True)
    y, sr, what = source_signal(Path(args.jamendo), args.format_seconds)
    rows = []
    for suffix in (*SF_WRITE, *AV_WRITE):
        path = write_format(work / f"source{suffix}", y, sr)
        for decoder in ("soundfile", "av"):
            best, seconds, err = np.inf, np.nan, ""
            for _ in range(args.format_repeats):
                t0 = time.perf_counter()
                try:
                    z = audio.decode_checked(path, 22050, decoder=decoder)[0]
                except audio.AudioError as e:
                    err = e.detail[:80]
                    break
                best = min(best, time.perf_counter() - t0)
                seconds = len(z) / 22050
            rows.append(dict(format=suffix.lstrip("."), decoder=decoder, opens=not err,
                             x_realtime=round(seconds / best, 1) if not err else np.nan,
                             used=formats.DECODERS[suffix] == decoder, error=err))
    df = pd.DataFrame(rows)
    fastest = df[df.opens].sort_values("x_realtime").groupby("format").tail(1).set_index("format")["decoder"]
    df["fastest"] = df["format"].map(fastest) == df["decoder"]
    df.attrs["notes"] = [
        f"Source: {what}, stereo, written in each format; decoded to mono float32 at 22.05 kHz (the analysis "
        f"rate: decode, channel mean, soxr HQ resampling), best of {args.format_repeats}; x_realtime = seconds "
        "of audio per second of decoding. `used`: the decoder `formats.DECODERS` picks for the format; "
        "`fastest`: the faster of the two here.",
        "`formats.DECODERS` was set from this table; a format where `used` and `fastest` differ on a later "
        "run is worth a look (MP3 would also change every MP3 collection's samples if it moved to PyAV: "
        "FFmpeg's decoder and gapless trimming differ from mpg123's).",
    ]
    return df


def build_library(root: Path, n: int, seconds: float = 0.5) -> Path:
    """``n`` tiny MP3s under ``root/g0..g7`` with distinct ID3 tags (up to 300 artists and 900 albums, each
    shared by several songs, 60 years)."""
    from mutagen.easyid3 import EasyID3

    n_artists, n_albums = min(300, max(2, n // 4)), min(900, max(2, n // 3))
    root.mkdir(parents=True, exist_ok=True)
    base = root.parent / "scan-base.mp3"
    t = np.arange(int(seconds * 22050)) / 22050
    sf.write(base, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 22050, format="MP3")
    for i in range(n):
        d = root / f"g{i % 8}"
        d.mkdir(exist_ok=True)
        p = d / f"{i:05d}.mp3"
        shutil.copyfile(base, p)
        tags = EasyID3()
        tags.update(title=f"Song {i}", artist=f"Artist {i % n_artists}", album=f"Album {i % n_albums}", genre=f"G{i % 8}",
                    date=str(1960 + i % 60))
        tags.save(p)
    base.unlink()
    return root


def bench_scan(args) -> pd.DataFrame:
    """Seconds to load and header-check a library of ``--scan-files`` tagged files (what 00 does)."""
    from songspace.data import loading, validation

    t0 = time.perf_counter()
    root = build_library(Path(args.work) / "scan" / "library", args.scan_files)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = loading.load_dataset(root)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    clean, report = validation.validate(df, min_duration_s=0.1, check_silence=False)
    validate_s = time.perf_counter() - t0
    total = load_s + validate_s
    row = dict(files=len(df), songs=len(clean), report_rows=len(report), load_s=round(load_s, 1),
               validate_s=round(validate_s, 1), scan_s=round(total, 1), files_per_s=round(len(df) / total),
               budget_s=args.scan_budget, within_budget=total <= args.scan_budget,
               labels=",".join(df.attrs["label_columns"]), build_s=round(build_s, 1))
    out = pd.DataFrame([row])
    out.attrs["notes"] = [
        f"A plain folder of {args.scan_files} tiny tagged MP3s (distinct title/artist/album/genre/date each), built "
        "in a temporary folder (build_s, not counted); load_s = `load_dataset` (walk, ID3 tags via mutagen, "
        "sidecar lookup), validate_s = `validate(check_silence=False)` (each audio header), as 00 runs them. "
        f"within_budget: scan_s <= {args.scan_budget:g} s."]
    return out
