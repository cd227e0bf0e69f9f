"""Speed and memory benchmarks: ``python tools/bench.py --out results/bench [--only features,memory]``.

A developer tool beside the package, not part of it: ``make bench`` runs it with the project's
environment (``BENCH_ONLY``, ``BENCH_E2E_*``), and it imports ``songspace`` like any user code.

Each section is a function ``(args) -> DataFrame`` registered in ``SECTIONS``; its table is printed
and written to ``<out>/<section>.csv``, and ``<out>/summary.md`` gathers every section's table
(markdown) with its notes. Every figure stands beside the plain alternative a user would write
(a sequential librosa loop, full-batch KMeans, full Ward, sklearn t-SNE, an in-RAM array), as a ratio.
Sections: ``features`` (x realtime, beside a fair librosa loop with one shared spectrogram, the naive
nine-STFT loop and decode-only), ``memory`` (peak RSS vs corpus size, fresh process per size),
``training`` (samples/s; a ``train.fit`` epoch streamed from a memmap), ``clustering`` (wall time vs
number of songs, each size capped by a time budget and extrapolated past it), ``chance`` (CPU time of a
chance level, vectorised vs the per-permutation loop), ``formats`` (decode x realtime per format and
decoder) and ``scan`` (tags + headers of a 10,000-file library vs a 60-s budget; both in ``bench_io``), ``e2e`` (``make data notebooks`` on synthetic
collections of ``BENCH_E2E_SONGS`` songs: per-stage seconds, seconds per song, peak memory).
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import bench_io  # tools/bench_io.py: the formats and scan sections
import psutil
import soundfile as sf
from songspace import config
from songspace.cache import atomic_to_csv, atomic_write_text
from songspace.features import audio
from songspace.features.extract import extract_audio
from songspace.parallel import map_ordered

log = logging.getLogger("songspace.bench")  # not __name__ ("__main__" as a script): setup_logging shows songspace.*


class _PeakSampler:
    """Samples ``_measure()`` (MB) on a thread every ``every`` s while the ``with`` block runs; ``peak`` is the maximum."""

    def __init__(self, every: float, initial: float):
        self.every, self.peak, self._stop = every, initial, threading.Event()

    def _measure(self) -> float:
        raise NotImplementedError

    def _sample(self):
        while True:
            self.peak = float(np.fmax(self.peak, self._measure()))  # fmax: a NaN start gives way to a number
            if self._stop.wait(self.every):
                return

    def __enter__(self):
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


class PeakRSS(_PeakSampler):
    """Peak resident memory (MB) of a process (default: this one) plus all its children, sampled every ``every`` s."""

    def __init__(self, every: float = 0.05, pid: int | None = None):
        super().__init__(every, 0.0)
        self.pid = pid

    def _measure(self) -> float:
        try:
            me = psutil.Process(self.pid)
            procs = [me, *me.children(recursive=True)]
        except psutil.Error:  # the watched process has ended
            return 0.0
        rss = 0
        for p in procs:
            try:
                rss += p.memory_info().rss
            except psutil.Error:
                pass
        return rss / 2**20


class PeakAnon(_PeakSampler):
    """Peak growth (MB) of this process's anonymous memory (``RssAnon``: heap, not file pages of a memmap).

    ``peak`` is NaN where /proc is missing (not Linux).
    """

    def __init__(self, every: float = 0.02):
        super().__init__(every, float("nan"))

    @staticmethod
    def anon_mb() -> float:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def _measure(self) -> float:
        return self.anon_mb() - self.base

    def __enter__(self):
        self.base = self.anon_mb()
        return super().__enter__()


def decode_seconds(path: str, sr: int) -> float:
    """Decode only (the floor of feature extraction); returns seconds of audio."""
    return len(audio.decode(path, sr)) / sr


def make_synth_corpus(out_dir: Path, n: int, seconds: float, sr: int = 44100, seed: int = 0) -> pd.DataFrame:
    """``n`` WAVs (16-bit, mono, ``sr`` Hz so decoding includes resampling): chords, noise and a beat."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    rows = []
    for i in range(n):
        f0 = rng.uniform(80, 400)
        y = sum(np.sin(2 * np.pi * f0 * r * t) / (k + 1) for k, r in enumerate([1, 1.25, 1.5, 2]))
        beat = (np.sin(2 * np.pi * rng.uniform(1.0, 3.0) * t) > 0.95) * rng.standard_normal(len(t))
        y = 0.15 * y + 0.3 * beat + 0.02 * rng.standard_normal(len(t))
        path = out_dir / f"synth{i:04d}.wav"
        sf.write(path, (y / np.abs(y).max() * 0.8).astype(np.float32), sr, subtype="PCM_16")
        rows.append(dict(track_id=f"synth{i:04d}", audio_path=str(path), has_audio=True))
    return pd.DataFrame(rows)


def plain_librosa_features(path: str, sr: int = 22050) -> np.ndarray:
    """The loop a user would write per file: librosa.load + MFCC, spectral descriptors, chroma, tempo.

    Returns mean and std over the track of each frame descriptor, plus the tempo: shape (n_desc,).
    """
    import librosa

    y, sr = librosa.load(path, sr=sr)
    frames = [librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20), librosa.feature.spectral_centroid(y=y, sr=sr),
              librosa.feature.spectral_bandwidth(y=y, sr=sr), librosa.feature.spectral_rolloff(y=y, sr=sr),
              librosa.feature.spectral_contrast(y=y, sr=sr), librosa.feature.spectral_flatness(y=y),
              librosa.feature.zero_crossing_rate(y), librosa.feature.rms(y=y), librosa.feature.chroma_stft(y=y, sr=sr)]
    tempo = np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))
    return np.concatenate([np.r_[f.mean(1), f.std(1)] for f in frames] + [tempo])


def shared_stft_librosa_features(path: str, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """The fair anchor: idiomatic librosa with ONE magnitude spectrogram shared by every descriptor.

    Same descriptor set as :func:`plain_librosa_features` (MFCC from a mel spectrogram of ``S``,
    spectral centroid/bandwidth/rolloff/contrast/flatness, RMS and chroma from ``S=``, chroma with
    ``tuning=0`` so no tuning estimation; ZCR on the waveform; tempo from the mel onset envelope).

    Returns
    -------
    np.ndarray, shape (n_desc,): mean and std over the track of each frame descriptor, plus the tempo.
    """
    import librosa

    y, sr = librosa.load(path, sr=sr)
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    S_pow = S ** 2
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=S_pow, sr=sr))
    frames = [librosa.feature.mfcc(S=mel_db, n_mfcc=20), librosa.feature.spectral_centroid(S=S, sr=sr),
              librosa.feature.spectral_bandwidth(S=S, sr=sr), librosa.feature.spectral_rolloff(S=S, sr=sr),
              librosa.feature.spectral_contrast(S=S, sr=sr), librosa.feature.spectral_flatness(S=S),
              librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length),
              librosa.feature.rms(S=S, frame_length=n_fft), librosa.feature.chroma_stft(S=S_pow, sr=sr, tuning=0.0)]
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr)
    tempo = np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=hop_length))
    return np.concatenate([np.r_[f.mean(1), f.std(1)] for f in frames] + [tempo])


def _duration_s(path: str, sr: int) -> float:
    try:
        return float(sf.info(path).duration)
    except Exception:  # a format libsndfile cannot read: decode it
        return decode_seconds(path, sr)


def _anchor_loop(fn, tracks: pd.DataFrame, sr: int, prefix: str) -> dict:
    """Sequential loop of ``fn(path, sr)`` over the tracks (one warm-up file first, not timed).

    Returns ``<prefix>_tracks``, ``<prefix>_audio_s``, ``<prefix>_s`` (wall) and ``<prefix>_x_realtime``.
    """
    paths = tracks["audio_path"].tolist()
    fn(paths[0], sr)
    t0 = time.perf_counter()
    for path in paths:
        fn(path, sr)
    wall = time.perf_counter() - t0
    audio_s = sum(_duration_s(x, sr) for x in paths)
    return {f"{prefix}_tracks": len(paths), f"{prefix}_audio_s": round(audio_s, 1), f"{prefix}_s": round(wall, 2),
            f"{prefix}_x_realtime": round(audio_s / wall, 1)}


def _plain_loop(tracks: pd.DataFrame, sr: int) -> dict:
    """The naive reference: nine separate STFTs per file (:func:`plain_librosa_features`)."""
    return _anchor_loop(plain_librosa_features, tracks, sr, "plain")


def _shared_loop(tracks: pd.DataFrame, sr: int) -> dict:
    """The fair anchor: one shared spectrogram per file (:func:`shared_stft_librosa_features`)."""
    return _anchor_loop(shared_stft_librosa_features, tracks, sr, "shared")


def _jamendo_tracks(folder: Path) -> pd.DataFrame | None:
    mp3 = sorted((folder / "mp3").glob("*.mp3"))
    if not mp3:
        return None
    return pd.DataFrame(dict(track_id=[p.stem for p in mp3], audio_path=[str(p) for p in mp3], has_audio=True))


def _stop_local_workers() -> None:
    """End joblib's reusable loky pool so idle workers do not count in the next phase's memory."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def _features_one(corpus: str, tracks: pd.DataFrame, n_jobs: int, p: audio.AudioParams, work: Path) -> dict:
    _stop_local_workers()
    paths = tracks["audio_path"].tolist()
    fn = functools.partial(decode_seconds, sr=p.sr)
    # start and warm the worker pool (numba compilation happens once per worker, not per file).
    # Features first: loky takes a worker's memory after its first task as the reference and
    # restarts a worker that grows 300 MB beyond it, which librosa's warm-up would trigger.
    extract_audio(tracks.iloc[:n_jobs], p, work / "warm", n_jobs=n_jobs, cache_dir=False, progress=False)
    list(map_ordered(fn, paths[:n_jobs], n_jobs=n_jobs, progress=False))

    with PeakRSS() as mem_d:
        t0 = time.perf_counter()
        audio_s = sum(map_ordered(fn, paths, n_jobs=n_jobs, desc=f"{corpus} decode x{n_jobs}", unit="track"))
        decode_s = time.perf_counter() - t0
    with PeakRSS() as mem_f:
        t0 = time.perf_counter()
        st = extract_audio(tracks, p, work / f"out{n_jobs}", n_jobs=n_jobs, cache_dir=False)
        full_s = time.perf_counter() - t0
    _stop_local_workers()
    assert st["n_failed"] == 0, f"{corpus}: {st['n_failed']} tracks failed; see {work / f'out{n_jobs}'}"
    return dict(corpus=corpus, n_tracks=len(tracks), audio_s=round(audio_s, 1), n_windows=st["n_windows"],
                n_jobs=n_jobs, decode_s=round(decode_s, 2), decode_x_realtime=round(audio_s / decode_s, 1),
                full_s=round(full_s, 2), full_x_realtime=round(audio_s / full_s, 1),
                full_x_realtime_per_core=round(audio_s / full_s / n_jobs, 1),
                full_over_decode=round(full_s / decode_s, 2),
                # sum of RSS over parent + workers (shared library pages counted once per process)
                peak_rss_mb_decode=round(mem_d.peak), peak_rss_mb_full=round(mem_f.peak))


def _synth_corpus(args, n: int) -> pd.DataFrame:
    """The first ``n`` tracks of this run's synthetic corpus (generated once, in the run's work folder)."""
    folder = Path(args.work) / f"synth_{args.synth_seconds:g}s"
    have = getattr(args, "_synth", None)
    if have is None or len(have) < n:
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        args._synth = make_synth_corpus(folder, n, args.synth_seconds)
        log.info("[bench] generated %d synthetic %g-s tracks in %.1f s", n, args.synth_seconds, time.perf_counter() - t0)
    return args._synth.iloc[:n].reset_index(drop=True)


def _jobs(args) -> list[int]:
    return sorted({1, min(os.cpu_count() or 1, args.max_jobs)})


def bench_features(args) -> pd.DataFrame:
    """Decode-only vs full extraction, 1 worker vs all cores, on the real mp3s and a synthetic corpus,
    beside two sequential librosa loops over the same files (on the first ``--plain-max`` of them):
    the fair anchor (one shared spectrogram per file) and the naive one (nine STFTs per file).
    Extraction uses the full profile's audio settings: what `make all` runs."""
    p = audio.AudioParams(**config.profile("full")["audio"])
    rows = []
    work = Path(args.work) / "features"
    corpora = []
    jam = _jamendo_tracks(Path(args.jamendo))
    if jam is None:
        log.warning("[bench] no mp3 under %s/mp3: real-audio rows skipped", args.jamendo)
    else:
        corpora.append(("jamendolyrics_mp3", jam))
    if args.n_synth > 0:
        corpora.append((f"synthetic_wav44k_{args.synth_seconds:g}s", _synth_corpus(args, args.n_synth)))
    for name, tracks in corpora:
        shared = _shared_loop(tracks.iloc[:args.plain_max], p.sr)
        plain = _plain_loop(tracks.iloc[:args.plain_max], p.sr)
        log.info("[bench] %s: shared-spectrogram librosa loop %s; naive loop %s", name, shared, plain)
        for n_jobs in _jobs(args):
            r = _features_one(name, tracks, n_jobs, p, work / name)
            r.update(**shared, **plain, full_vs_shared=round(r["full_x_realtime"] / shared["shared_x_realtime"], 2),
                     full_vs_plain=round(r["full_x_realtime"] / plain["plain_x_realtime"], 2),
                     full_vs_decode=round(r["full_x_realtime"] / r["decode_x_realtime"], 3))
            rows.append(r)
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    # whole-run maximum of the parent alone (kernel's ru_maxrss); workers are in the sampled peaks
    df["ru_maxrss_mb_parent_run"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    df.attrs["notes"] = [
        "x_realtime = seconds of audio per second of wall time. full = `extract_audio` with the full profile's "
        f"audio settings ({p.n_mels} mel bands x {p.patch_frames} frames per patch; decode, per-window "
        "descriptors, pooled track descriptors, log-mel patches, written to disk); decode = decoding alone.",
        "shared = the fair anchor: a sequential loop of idiomatic librosa with ONE |STFT| per file shared (S=) by "
        "mfcc (via melspectrogram), spectral_*, flatness, rms, chroma_stft (tuning=0: no tuning estimation), zcr on "
        "the waveform and tempo from the mel onset envelope (track-level means/stds only: less output than "
        "`full`); full_vs_shared = full_x_realtime / shared_x_realtime, the figure to quote.",
        "plain = the naive reference: the same descriptors with librosa.load + each feature from the waveform "
        "(nine STFTs per file, chroma tuning estimated); full_vs_plain = full_x_realtime / plain_x_realtime. "
        "Both loops are timed on the first `shared_tracks` / `plain_tracks` tracks of the same corpus, one process.",
        "full_vs_decode = full_x_realtime / decode_x_realtime: the fraction of decode-only speed that full "
        "extraction keeps (1 = features cost nothing beyond decoding). Compare n_jobs=1 rows with the loops "
        "(one core each); full_x_realtime_per_core divides by the workers.",
        "peak_rss_* = sampled sum of RSS of the parent and its worker processes.",
    ]
    return df


_CHILD = """
import json, sys
from pathlib import Path
import pandas as pd
from songspace.features import extract_audio
tracks = pd.read_csv(sys.argv[1], dtype={"track_id": str})
st = extract_audio(tracks, out_dir=sys.argv[2], n_jobs=int(sys.argv[3]), cache_dir=False, progress=False)
# VmHWM: peak RSS of this process's own address space (ru_maxrss would carry the parent's over exec)
hwm = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:")]
print(json.dumps(dict(st, main_hwm_mb=int(hwm[0].split()[1]) / 1024 if hwm else float("nan"))))
"""


def bench_memory(args) -> pd.DataFrame:
    """Peak memory of feature extraction as the corpus grows, each size in a fresh Python process."""
    sizes = sorted(int(x) for x in args.memory_sizes.split(","))
    n_jobs = max(_jobs(args))
    tracks = _synth_corpus(args, max(sizes))
    rows = []
    for n in sizes:
        d = Path(args.work) / f"memory_{n}"
        d.mkdir(parents=True, exist_ok=True)
        tracks.iloc[:n].to_csv(d / "tracks.csv", index=False)
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(d / "tracks.csv"), str(d / "out"), str(n_jobs)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with PeakRSS(pid=proc.pid) as mem:
            out, err = proc.communicate()
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"memory bench: extraction of {n} tracks failed:\n{err[-2000:]}")
        st = json.loads(out.strip().splitlines()[-1])
        logmel_mb = (d / "out" / "logmel.npy").stat().st_size / 2**20
        rows.append(dict(n_tracks=n, n_jobs=n_jobs, audio_s=round(st["audio_s"], 1), n_windows=st["n_windows"],
                         process_wall_s=round(wall, 1), extract_x_realtime=round(st["x_realtime"], 1),
                         peak_rss_mb_tree=round(mem.peak), main_peak_rss_mb=round(st["main_hwm_mb"]),
                         logmel_npy_mb=round(logmel_mb, 1)))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    base = df.iloc[0]
    df["corpus_ratio"] = (df["n_tracks"] / base["n_tracks"]).round(2)
    df["peak_rss_ratio"] = (df["peak_rss_mb_tree"] / base["peak_rss_mb_tree"]).round(2)
    df.attrs["notes"] = [
        "Each size runs `extract_audio` in a fresh `python -c` process; peak_rss_mb_tree is the sampled sum of "
        "RSS over that process and its workers, main_peak_rss_mb the kernel's high-water mark (VmHWM) of its main "
        "process alone.",
        "Bounded memory means peak_rss_ratio stays near 1 while corpus_ratio grows; log-mel patches stream to "
        "disk (logmel_npy_mb grows with the corpus, RAM does not). RSS counts file-backed pages too: the main "
        "process's final spool -> logmel.npy copy through two memmaps adds up to ~2 x logmel_npy_mb of clean, "
        "reclaimable page cache to main_peak_rss_mb.",
    ]
    return df


def _fit_epoch(X, ids, kind: str, model_cfg: dict, batch_size: int) -> dict:
    from songspace.models.registry import build_model
    from songspace.training.loop import TrainConfig, fit, seed_everything

    seed_everything(0)
    model = build_model(kind, **model_cfg)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, patience=1, progress=False, device="auto", seed=0)
    with PeakAnon() as mem:
        t0 = time.perf_counter()
        res = fit(model, X, cfg, ids)
        wall = time.perf_counter() - t0
    return dict(wall=wall, epoch_s=float(res.history["seconds"].iloc[0]), anon=mem.peak)


def throughput(kind: str, model_cfg: dict, input_shape, batch_size: int = 64, n_batches: int = 20,
               device: str = "auto", seed: int = 0) -> float:
    """Training speed in samples/s (forward + backward + Adam step) on random data.

    Parameters
    ----------
    kind, model_cfg : as in ``build_model``; missing input sizes are taken from ``input_shape``
    input_shape : per-sample shape, e.g. ``(d,)`` or ``(1, n_mels, frames)``; for
        ``multimodal_vae`` ``(audio_dim, lyrics_dim)``
    """
    import torch
    from songspace.models.registry import build_model
    from songspace.training.loop import adam, pick_device, seed_everything

    seed_everything(seed)
    cfg = dict(model_cfg)
    input_shape = tuple(int(s) for s in input_shape)
    if kind == "multimodal_vae":
        cfg.setdefault("audio_dim", input_shape[0])
        cfg.setdefault("lyrics_dim", input_shape[1])
    elif kind == "conv_vae" or (kind == "ae" and len(input_shape) > 1):
        cfg.setdefault("input_shape", input_shape)
    else:
        cfg.setdefault("input_dim", input_shape[-1])
    dev = pick_device(device)
    model = build_model(kind, **cfg).to(dev).train()
    if kind == "multimodal_vae":
        ones = torch.ones(batch_size, dtype=torch.bool, device=dev)
        x = {"audio": torch.randn(batch_size, cfg["audio_dim"], device=dev),
             "lyrics": torch.randn(batch_size, cfg["lyrics_dim"], device=dev), "mask_audio": ones, "mask_lyrics": ones}
    else:
        x = torch.randn(batch_size, *input_shape, device=dev)
    c = None
    if model.config.get("n_classes"):
        c = torch.nn.functional.one_hot(torch.arange(batch_size, device=dev) % model.config["n_classes"],
                                        model.config["n_classes"]).float()
    opt = adam(model, 1e-3)

    def step():
        out = model(x, c)
        loss = model.loss(x, out)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, lazy init) is not timed
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n_batches):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * n_batches / (time.perf_counter() - t0)


def bench_training(args) -> pd.DataFrame:
    """Training samples/s (:func:`throughput`, device "auto") and one ``train.fit`` epoch streamed
    from a memory-mapped log-mel array beside the same epoch on an in-RAM array."""
    import torch
    from songspace.training.loop import pick_device

    dev = str(pick_device("auto"))
    rows = []
    conv_shape = (1, 32, 64)
    cases = [("conv_vae", dict(first_channels=16, latent_dim=8), conv_shape),
             ("conv_vae", dict(first_channels=32, latent_dim=8), conv_shape),
             ("mlp_vae", dict(latent_dim=8), (args.mlp_dim,))]
    for kind, cfg, shape in cases:
        throughput(kind, cfg, shape, batch_size=64, n_batches=3, device="auto")  # warm-up: kernels, allocator
        # three repeats: the median is the figure, the best one shows how much other load cost
        runs = [throughput(kind, cfg, shape, batch_size=64, n_batches=args.train_batches, device="auto")
                for _ in range(3)]
        rows.append(dict(measure="throughput", kind=kind, config=json.dumps(cfg), input_shape=str(shape), device=dev,
                         torch_threads=torch.get_num_threads(), batch_size=64, n_rows=64 * args.train_batches,
                         samples_per_s=round(float(np.median(runs)), 1), best_samples_per_s=round(max(runs), 1)))
        print(rows[-1], flush=True)

    n, cfg = args.train_windows, dict(first_channels=16, latent_dim=8, input_shape=list(conv_shape))
    path = Path(args.work) / "train_logmel.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, *conv_shape))
    rng = np.random.default_rng(0)
    for i in range(0, n, 4096):
        mm[i:i + 4096] = rng.standard_normal((min(4096, n - i), *conv_shape), dtype=np.float32)
    mm.flush()
    del mm
    ids = np.repeat(np.arange(math.ceil(n / 20)), 20)[:n].astype(str)  # 20 windows per song
    array_mb = n * int(np.prod(conv_shape)) * 4 / 2**20
    X_mm = np.load(path, mmap_mode="r")
    stream = _fit_epoch(X_mm, ids, "conv_vae", cfg, 64)
    X_ram = np.array(X_mm)  # the plain alternative: the whole array in memory
    ram = _fit_epoch(X_ram, ids, "conv_vae", cfg, 64)
    del X_ram, X_mm
    for name, r in (("fit_epoch_memmap", stream), ("fit_epoch_in_ram", ram)):
        rows.append(dict(measure=name, kind="conv_vae", config=json.dumps({k: cfg[k] for k in ("first_channels", "latent_dim")}),
                         input_shape=str(conv_shape), device=dev, torch_threads=torch.get_num_threads(), batch_size=64,
                         n_rows=n, samples_per_s=round(n / r["epoch_s"], 1), epoch_s=round(r["epoch_s"], 2),
                         fit_wall_s=round(r["wall"], 2), array_mb=round(array_mb, 1),
                         peak_anon_growth_mb=round(r["anon"], 1)))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df["memmap_vs_in_ram"] = np.nan
    df.loc[df["measure"] == "fit_epoch_memmap", "memmap_vs_in_ram"] = round(ram["epoch_s"] / stream["epoch_s"], 2)
    path.unlink(missing_ok=True)
    df.attrs["notes"] = [
        f"device picked by `train.pick_device('auto')`: {dev} (a GPU is used without code changes when present).",
        "throughput = forward + backward + Adam step on random batches (`throughput` of tools/bench.py), "
        "median of 3 repeats after a warm-up (best_samples_per_s: the fastest repeat).",
        "fit_epoch_* = one `train.fit` epoch (training rows / epoch seconds, validation pass included) on "
        f"{n} windows of shape {conv_shape}: memmap (np.lib.format.open_memmap, read per batch) vs the same "
        "array loaded in RAM; memmap_vs_in_ram = in-RAM epoch time / memmap epoch time (1 = no streaming cost). "
        "peak_anon_growth_mb = growth of anonymous memory (RssAnon) during fit: with the memmap it stays far "
        "below array_mb, the batches stream from disk.",
    ]
    return df


# ---------------------------------------------------------------- clustering and 2-D maps

PRIOR_EXPONENT = {"kmeans": 1.0, "minibatch": 1.0, "agglomerative": 2.0, "umap": 1.2, "tsne": 1.3}


def predict_seconds(sizes: list[int], seconds: list[float], n: int, prior: float) -> tuple[float, float]:
    """Extrapolate wall time to ``n`` rows with a power law ``t ~ n**b``.

    ``b`` is fitted on the last two measured sizes when both took at least 0.05 s (clamped to [1, 3]),
    else ``prior``. Returns (seconds, b).
    """
    b = prior
    if len(sizes) >= 2 and min(seconds[-2:]) >= 0.05:
        b = float(np.clip(math.log(seconds[-1] / seconds[-2]) / math.log(sizes[-1] / sizes[-2]), 1.0, 3.0))
    return seconds[-1] * (n / sizes[-1]) ** b, b


def scaled_runs(fn, sizes, budget: float, prior: float) -> list[dict]:
    """Run ``fn(n) -> (seconds, extra dict)`` for growing sizes; a size whose time, extrapolated from the
    smaller ones, exceeds ``budget`` seconds is not run: its row says ``skipped: >budget`` and gives the
    extrapolated seconds."""
    done_n, done_t, rows = [], [], []
    for n in sorted(sizes):
        if done_n:
            pred, b = predict_seconds(done_n, done_t, n, prior)
            if pred > budget:
                rows.append(dict(n=n, seconds=round(pred, 1), status=f"skipped: >{budget:g}s budget",
                                 value="extrapolated", exponent=round(b, 2)))
                continue
        t, extra = fn(n)
        done_n.append(n)
        done_t.append(t)
        rows.append(dict(n=n, seconds=round(t, 3), status="ok", value="measured", **extra))
    return rows


def planted_blobs(n: int, dim: int = 16, k: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` latent-like vectors (n, dim) float32 around ``k`` planted centres, and their labels (n,)."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n, n_features=dim, centers=k, cluster_std=2.0, random_state=seed)
    return X.astype(np.float32), y


def bench_clustering(args) -> pd.DataFrame:
    """Wall time of clustering and 2-D maps as the number of songs grows, songspace's choice beside the
    plain alternative, each size capped by ``--budget`` seconds."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.manifold import TSNE
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler
    from songspace.evaluation import cluster
    from songspace.report import projection

    k, dim = 8, args.latent_dim
    data = {}

    def blobs(n):
        if n not in data:
            data[n] = planted_blobs(n, dim, k)
        return data[n]

    def ours(method):
        def run(n):
            X, y = blobs(n)
            t0 = time.perf_counter()
            labels, info = cluster.fit_predict(X, method, k=k, seed=0, return_info=True)
            return time.perf_counter() - t0, dict(algorithm=info["algorithm"], ari=round(adjusted_rand_score(y, labels), 3))
        return run

    def plain_kmeans(n):
        X, y = blobs(n)
        t0 = time.perf_counter()
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(X))
        return time.perf_counter() - t0, dict(algorithm="sklearn KMeans (full batch)", ari=round(adjusted_rand_score(y, labels), 3))

    def plain_ward(n):
        X, y = blobs(n)
        t0 = time.perf_counter()
        labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(StandardScaler().fit_transform(X))
        return time.perf_counter() - t0, dict(algorithm="sklearn Ward (all rows)", ari=round(adjusted_rand_score(y, labels), 3))

    def umap_map(n):
        X, _ = blobs(n)
        t0 = time.perf_counter()
        projection.embed_2d(X, "umap", seed=0)
        return time.perf_counter() - t0, dict(algorithm="umap-learn via embed2d (n_jobs=1)")

    def tsne_map(n):
        X, _ = blobs(n)
        t0 = time.perf_counter()
        TSNE(n_components=2, perplexity=30.0, init="pca", random_state=0).fit_transform(X)
        return time.perf_counter() - t0, dict(algorithm="sklearn TSNE (Barnes-Hut)")

    sizes = [int(x) for x in args.cluster_sizes.split(",")]
    embed_sizes = [int(x) for x in args.embed_sizes.split(",")]
    pairs = [("kmeans", sizes, ours("kmeans"), "kmeans", plain_kmeans, "kmeans", "sklearn KMeans (full batch)"),
             ("agglomerative", sizes, ours("agglomerative"), "agglomerative", plain_ward, "agglomerative",
              "sklearn Ward (all rows)")]
    methods = [m.strip() for m in args.embed_methods.split(",") if m.strip()]
    notes = []
    if "umap" in methods:
        t0 = time.perf_counter()
        projection.embed_2d(blobs(200)[0], "umap", seed=0)  # import (~20 s) and numba compilation, not timed
        notes.append(f"UMAP's first call (import + numba compilation) took {time.perf_counter() - t0:.0f} s; "
                     "not in the table.")
        pairs.append(("2d_map", embed_sizes, umap_map, "umap", tsne_map if "tsne" in methods else None, "tsne",
                      "sklearn TSNE (Barnes-Hut)"))
    elif "tsne" in methods:
        pairs.append(("2d_map", embed_sizes, tsne_map, "tsne", None, "tsne", ""))
    rows = []
    for task, sz, fn, prior, plain_fn, plain_prior, plain_name in pairs:
        mine = scaled_runs(fn, sz, args.budget, PRIOR_EXPONENT[prior])
        plain = scaled_runs(plain_fn, sz, args.budget, PRIOR_EXPONENT[plain_prior]) if plain_fn else [{}] * len(mine)
        for a, b in zip(mine, plain):
            r = dict(task=task, n_songs=a["n"], dim=dim, k=k, songspace=a.get("algorithm", prior), seconds=a["seconds"],
                     value=a["value"], status=a["status"], ari=a.get("ari", np.nan))
            if b:
                r.update(plain=b.get("algorithm", plain_name),
                         plain_seconds=b["seconds"], plain_value=b["value"], plain_status=b["status"],
                         plain_ari=b.get("ari", np.nan), speedup_vs_plain=round(b["seconds"] / max(a["seconds"], 1e-6), 2))
            rows.append(r)
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    for m, fill in (("plain", ""), ("plain_value", ""), ("plain_status", "")):
        if m in df:
            df[m] = df[m].fillna(fill)
    notes += [
        f"{dim}-dim latent-like vectors with {k} planted blobs; ari = adjusted Rand index against the planted labels.",
        f"songspace.evaluation.cluster switches KMeans -> MiniBatchKMeans above {cluster.MINIBATCH_ABOVE:,} rows and fits "
        f"agglomerative (Ward) on a {cluster.SUBSAMPLE_ABOVE:,}-row subsample + nearest centroid above "
        f"{cluster.SUBSAMPLE_ABOVE:,} rows: the `songspace` column names what actually ran.",
        f"A size is skipped when a power-law fit of the smaller sizes extrapolates beyond the {args.budget:g} s "
        "budget; its seconds are then extrapolated (value = extrapolated), not measured.",
        "speedup_vs_plain = plain seconds / songspace seconds (for 2d_map: sklearn t-SNE time / UMAP time).",
    ]
    df.attrs["notes"] = notes
    return df


# ---------------------------------------------------------------- chance levels

def _cpu_median(fn, repeats: int) -> float:
    """Median CPU seconds (this process, all threads) of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def bench_chance(args) -> pd.DataFrame:
    """CPU time of one chance level (``chance.chance_level``, all permutations at once) beside the
    per-permutation sklearn loop it replaced (``chance.chance_level_loop``), same output."""
    from songspace.evaluation import chance

    rows = []
    for n in sorted(int(x) for x in args.chance_sizes.split(",")):
        rng = np.random.default_rng(0)
        y, lab = rng.integers(0, 8, n).astype(str), rng.integers(0, 10, n)
        fast = _cpu_median(lambda: chance.chance_level(y, lab, args.chance_perms), 5)
        loop = _cpu_median(lambda: chance.chance_level_loop(y, lab, args.chance_perms), 3)
        a, b = chance.chance_level(y, lab, args.chance_perms), chance.chance_level_loop(y, lab, args.chance_perms)
        rows.append(dict(n_items=n, n_perm=args.chance_perms, n_clusters=10, n_classes=8, vectorised_cpu_s=round(fast, 4),
                         loop_cpu_s=round(loop, 3), speedup=round(loop / max(fast, 1e-9), 1),
                         max_abs_diff=float(max(abs(a[k] - b[k]) for k in a))))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df.attrs["notes"] = [
        "CPU seconds (time.process_time: less sensitive to other load than wall time), median of 5 (vectorised) "
        "and 3 (loop) calls, for the 4 metrics (ARI, NMI, AMI, purity) of every permutation.",
        "max_abs_diff = largest difference of the 8 returned values (means and p95) between the two.",
    ]
    return df


# ---------------------------------------------------------------- end to end

E2E_LANGUAGES = ("en", "fr", "de", "es")  # x 3 genres: 12 cells of the synthetic collection


def notebook_durations(nb_dir: Path) -> dict[str, float]:
    """Seconds each executed notebook took (papermill's ``metadata.papermill.duration``), by stage name."""
    out = {}
    for path in sorted(Path(nb_dir).glob("[0-9][0-9]_*.ipynb")):
        if path.name.endswith(".part.ipynb"):
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        if meta.get("duration") is not None:
            out[path.stem] = float(meta["duration"])
    return out


def _e2e_collection(args, n_songs: int) -> tuple[Path, int, float]:
    """A synthetic collection of about ``n_songs`` (rounded up to whole cells); returns folder, songs, seconds."""
    from songspace.data.synthetic import make_synthetic

    per_cell = max(1, math.ceil(n_songs / (3 * len(E2E_LANGUAGES))))
    base = Path(args.e2e_dir) if args.e2e_dir else Path(args.work)
    folder = base / f"synthetic_{per_cell}x12_{args.e2e_seconds:g}s"
    t0 = time.perf_counter()
    manifest = make_synthetic(folder, n_per_cell=per_cell, languages=E2E_LANGUAGES, duration_s=args.e2e_seconds)
    return folder, len(pd.read_csv(manifest)), time.perf_counter() - t0


def _run_make(folder: Path, run_dir: Path, args) -> tuple[float, float, int, Path]:
    """``make <targets>`` of this checkout on ``folder``; returns wall seconds, peak RSS (MB) of the tree,
    make's exit code and the path of its log."""
    venv = Path(sys.prefix)
    lib = str(config.ROOT / "lib")  # this checkout's lib/, ahead of an installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [lib, os.environ.get("PYTHONPATH")]))}
    cmd = ["make", "-C", str(config.ROOT), "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed",
           *args.e2e_targets.split(","), f"DATASET_PATH={folder}", f"PROFILE={args.e2e_profile}",
           f"RESULTS={run_dir / 'results'}", f"DATA={run_dir / 'data'}"]
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "make.log"
    log.info("[bench] %s", " ".join(cmd))
    with open(log_path, "w") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        with PeakRSS(every=0.5, pid=proc.pid) as mem:
            rc = proc.wait()
        wall = time.perf_counter() - t0
    return wall, mem.peak, rc, log_path


def linear_cost(df: pd.DataFrame) -> pd.DataFrame:
    """Least-squares fit ``seconds = fixed + per_song * n_songs`` of every timed column of the e2e table.

    A cost linear in the songs shows as small residuals; ``fixed_s`` is what a stage costs whatever the
    collection's size (kernel start and imports, and training budgets that every collection past a few
    dozen songs uses in full), and it is why ``s_per_song`` falls as collections grow.

    Parameters
    ----------
    df : the e2e table; only rows with status "ok" count, and at least two sizes are needed.

    Returns
    -------
    pd.DataFrame, one row per timed column (``total_s``, each stage, ``other_s``): ``fixed_s``,
    ``per_song_s`` and ``max_residual_pct`` (largest |residual| in % of that size's time; NaN with
    two sizes, which any line fits exactly). Empty when fewer than two sizes finished.
    """
    ok = df[df["status"] == "ok"] if "status" in df else df
    n_sizes = ok["n_songs"].nunique()
    if n_sizes < 2:
        return pd.DataFrame(columns=["column", "fixed_s", "per_song_s", "max_residual_pct"])
    n = ok["n_songs"].to_numpy(dtype=float)
    rows = []
    for col in ["total_s"] + [c for c in ok.columns if c[:2].isdigit() and c.endswith("_s")] + ["other_s"]:
        if col not in ok or ok[col].isna().any():
            continue
        y = ok[col].to_numpy(dtype=float)
        per_song, fixed = np.polyfit(n, y, 1)
        resid = np.abs(y - (fixed + per_song * n)) / np.maximum(y, 1e-9) * 100
        rows.append(dict(column=col, fixed_s=round(fixed, 1) + 0.0, per_song_s=round(per_song, 3) + 0.0,  # no -0
                         max_residual_pct=round(resid.max(), 1) if n_sizes > 2 else float("nan")))
    return pd.DataFrame(rows)


def _cost_note(fit: pd.DataFrame) -> str:
    """One sentence of the e2e notes from :func:`linear_cost`."""
    def resid(r) -> str:
        return "" if pd.isna(r.max_residual_pct) else f" (residual <= {r.max_residual_pct:g} %)"

    tot = next(r for r in fit.itertuples() if r.column == "total_s")
    stages = "; ".join(f"{r.column[:-2]} {r.fixed_s:g} s + {r.per_song_s:g} s/song{resid(r)}"
                       for r in fit.itertuples() if r.column != "total_s")
    return (f"Cost model, least squares over the sizes that finished (residual: largest |residual| in % of a "
            f"size's time): total = {tot.fixed_s:g} s fixed + {tot.per_song_s:g} s per song{resid(tot)}. "
            f"Per column: {stages}.")


def bench_e2e(args) -> pd.DataFrame:
    """The whole pipeline (``make data notebooks``) on synthetic collections of growing size: per-stage
    seconds (each notebook's papermill duration), total, seconds per song and peak memory."""
    rows = []
    for n in sorted(int(x) for x in str(args.e2e_songs).split(",")):
        folder, n_songs, gen_s = _e2e_collection(args, n)
        log.info("[bench] e2e: %d songs of %g s ready in %.0f s (%s)", n_songs, args.e2e_seconds, gen_s, folder)
        run_dir = Path(args.work) / f"e2e_{n_songs}"
        wall, peak, rc, make_log = _run_make(folder, run_dir, args)
        stages = notebook_durations(run_dir / "results" / "notebooks")
        status = "ok"
        if rc != 0:  # the finished stages' times are still worth a row; the log is kept beside the CSV
            kept = Path(args.out) / f"e2e_{n_songs}_make.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(make_log.read_text())
            status = f"failed (make exit {rc}) after {len(stages)} stages; see {kept.name}"
            log.error("[bench] e2e %d songs: %s", n_songs, status)
        row = dict(n_songs=n_songs, audio_h=round(n_songs * args.e2e_seconds / 3600, 2), profile=args.e2e_profile,
                   status=status, total_s=round(wall, 1), s_per_song=round(wall / n_songs, 2), peak_rss_mb=round(peak))
        row.update({f"{k}_s": round(v, 1) for k, v in stages.items()})
        row["other_s"] = round(wall - sum(stages.values()), 1)  # listing stamp, nbconvert to HTML, make itself
        rows.append(row)
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df.attrs["notes"] = [
        f"Synthetic collections (`songspace.data.synthetic.make_synthetic`, 3 genres x {len(E2E_LANGUAGES)} languages, "
        f"{args.e2e_seconds:g}-s songs) run by `make {' '.join(args.e2e_targets.split(','))} PROFILE={args.e2e_profile}` "
        "of this checkout (the report's PDF step is left out: it may install chromium).",
        "<stage>_s = the executed notebook's papermill duration; other_s = the rest of the make run (collection "
        "listing stamp, HTML conversion of each notebook, make). peak_rss_mb = sampled sum of RSS of make and "
        "every process under it (kernel, workers).",
        "Linearity: a stage is linear when its seconds lie on a line over the sizes (the cost model below); "
        "s_per_song still falls with size by the fixed part of that line.",
        "Sizes: BENCH_E2E_SONGS (default 60); the documented goal is `make bench BENCH_E2E_SONGS=1000` "
        "(~1.6 s per song to generate and ~8 MB of WAV per 180-s song). BENCH_E2E_PROFILE=full for the full profile.",
    ]
    fit = linear_cost(df)
    if len(fit):
        df.attrs["notes"].append(_cost_note(fit))
    return df


SECTIONS = {"features": bench_features, "memory": bench_memory, "training": bench_training,
            "clustering": bench_clustering, "chance": bench_chance, "formats": bench_io.bench_formats,
            "scan": bench_io.bench_scan, "e2e": bench_e2e}


def to_markdown(df: pd.DataFrame) -> str:
    """A pipe table (no tabulate dependency)."""
    def cell(v):
        if isinstance(v, float):
            return "" if v != v else f"{v:g}"
        return str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_summary(out: Path, tables: dict, run_info: dict) -> Path:
    """``out/summary.md``: every section's table (this run's, else the CSV already in ``out``) and notes."""
    parts = ["# songspace benchmarks", "",
             f"Run {run_info['date']}, {run_info['cores']} cores, sections timed: "
             + ", ".join(f"{k} {v:.0f} s" for k, v in run_info["section_s"].items())
             + f"; total {run_info['total_s']:.0f} s. Load average (1 min) at start/end: "
             f"{run_info['load_start']:.2f} / {run_info['load_end']:.2f}: other work on the machine slows "
             "every figure, the ratios measured side by side less so.", ""]
    for name in SECTIONS:
        if name in tables:
            df = tables[name]
        elif (out / f"{name}.csv").exists():
            df = pd.read_csv(out / f"{name}.csv")
            notes = out / f"{name}.notes.json"
            df.attrs["notes"] = ["(from an earlier run)"] + (json.loads(notes.read_text()) if notes.exists() else [])
        else:
            continue
        parts += [f"## {name}", "", to_markdown(df), ""]
        parts += [f"- {n}" for n in df.attrs.get("notes", [])] + [""]
    return atomic_write_text(out / "summary.md", "\n".join(parts))


class UnknownSection(ValueError):
    """``--only`` names a section that does not exist."""


PUBLISH_MARK = "<!-- bench:new -->"


def machine() -> str:
    """One line naming this machine: cores, CPU model, memory, Python, torch."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    mem = ""
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        mem = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    return (f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, torch {torch.__version__}")


def publish(summary: Path, doc: Path, command: str) -> Path:
    """Add ``summary`` (``summary.md`` of this run) to ``doc`` as a dated section, newest first.

    The section goes right after the ``<!-- bench:new -->`` line; its heading names the date, the commit and the
    command that reproduces it, its first line the machine. A ``doc`` without that line is an error, so a
    wrong path never silently gains a copy.
    """
    text = doc.read_text(encoding="utf-8")
    if PUBLISH_MARK not in text:
        raise ValueError(f"{doc}: no {PUBLISH_MARK} line to publish after")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown commit"
    body = summary.read_text(encoding="utf-8").split("\n", 1)[1].strip()  # without its "# ..." title
    body = re.sub(r"(?m)^## ", "### ", body)
    section = (f"## {time.strftime('%Y-%m-%d %H:%M')}, commit {commit}: `{command}`\n\n"
               f"Machine: {machine()}.\n\n{body}\n")
    return atomic_write_text(doc, text.replace(PUBLISH_MARK, f"{PUBLISH_MARK}\n\n{section}", 1))


def add_arguments(ap) -> None:
    """The options of ``python tools/bench.py``."""
    ap.add_argument("--out", default=str(config.RESULTS / "bench"))
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {sorted(SECTIONS)}")
    ap.add_argument("--jamendo", default=str(config.ROOT.parent / "shared" / "data" / "jamendolyrics"))
    ap.add_argument("--n-synth", type=int, default=2000, help="synthetic tracks for the features section")
    ap.add_argument("--synth-seconds", type=float, default=5.0)
    ap.add_argument("--plain-max", type=int, default=300, help="tracks per corpus timed with the plain librosa loop")
    ap.add_argument("--max-jobs", type=int, default=os.cpu_count() or 1, help="cap on worker processes")
    ap.add_argument("--memory-sizes", default="500,2000")
    ap.add_argument("--train-batches", type=int, default=20, help="batches timed per throughput figure")
    ap.add_argument("--train-windows", type=int, default=20000, help="rows of the memmapped fit epoch")
    ap.add_argument("--mlp-dim", type=int, default=515, help="MLP VAE input (131 audio descriptors + 384 lyrics)")
    ap.add_argument("--cluster-sizes", default="500,2000,10000,30000")
    ap.add_argument("--embed-sizes", default="500,2000,10000")
    ap.add_argument("--embed-methods", default="umap,tsne")
    ap.add_argument("--latent-dim", type=int, default=16)
    ap.add_argument("--budget", type=float, default=60.0, help="seconds: a size extrapolated beyond it is skipped")
    ap.add_argument("--chance-sizes", default="1000,5000", help="items per chance-level timing")
    ap.add_argument("--chance-perms", type=int, default=200)
    ap.add_argument("--e2e-songs", default=os.environ.get("BENCH_E2E_SONGS") or "60",
                    help="comma list of collection sizes for the end-to-end section (env BENCH_E2E_SONGS)")
    ap.add_argument("--e2e-profile", default=os.environ.get("BENCH_E2E_PROFILE") or "tiny",
                    help="pipeline profile of the end-to-end section (env BENCH_E2E_PROFILE)")
    ap.add_argument("--e2e-seconds", type=float, default=180.0, help="seconds per synthetic song")
    ap.add_argument("--e2e-targets", default="data,notebooks", help="comma list of make targets run end to end")
    ap.add_argument("--e2e-dir", default=os.environ.get("BENCH_E2E_DIR") or "",
                    help="keep the synthetic collections here (reused by the next run) instead of a temporary folder")
    ap.add_argument("--publish", default="",
                    help="also add summary.md to this markdown file as a dated section (make bench: docs/benchmarks.md)")
    ap.add_argument("--command", default="python tools/bench.py", help="the command the published section names")
    bench_io.add_arguments(ap)


def run(args) -> Path:
    """Run the sections the parsed options ``args`` name; returns the path of summary.md.

    Raises :class:`UnknownSection` (before any work) for an unknown section name.
    """
    out = Path(args.out)
    names = [s.strip() for s in args.only.split(",") if s.strip()]
    for name in names:
        if name not in SECTIONS:
            raise UnknownSection(f"unknown section {name!r}; choose from {sorted(SECTIONS)}")
    t_start, load_start = time.perf_counter(), os.getloadavg()[0]
    tables, section_s = {}, {}
    with tempfile.TemporaryDirectory(prefix="songspace-bench-") as work:
        args.work = work
        for name in names:
            t0 = time.perf_counter()
            df = SECTIONS[name](args)
            section_s[name] = time.perf_counter() - t0
            tables[name] = df
            with pd.option_context("display.width", 250, "display.max_columns", 60):
                print(f"\n== {name} ({section_s[name]:.0f} s) ==\n{df.to_string(index=False)}")
            atomic_to_csv(df, out / f"{name}.csv")
            atomic_write_text(out / f"{name}.notes.json", json.dumps(df.attrs.get("notes", [])))
            log.info("[bench] wrote %s", out / f"{name}.csv")
    info = dict(date=time.strftime("%Y-%m-%d %H:%M"), cores=os.cpu_count(), section_s=section_s,
                total_s=time.perf_counter() - t_start, load_start=load_start, load_end=os.getloadavg()[0])
    path = write_summary(out, tables, info)
    log.info("[bench] total %.0f s; wrote %s", info["total_s"], path)
    if args.publish:
        log.info("[bench] added this run to %s", publish(path, Path(args.publish), args.command))
    return path


def main(argv=None) -> None:
    """``python tools/bench.py ...`` (what ``make bench`` runs)."""
    from songspace.log import setup_logging

    ap = argparse.ArgumentParser(prog="python tools/bench.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    args = ap.parse_args(argv)
    setup_logging()
    try:
        run(args)
    except UnknownSection as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
