"""Speed and memory benchmarks: ``python -m songspace.bench --out results/bench [--only features]``.

Each section is a function ``(args) -> DataFrame`` registered in ``SECTIONS``; its table is printed
and written to ``<out>/<section>.csv``. Add training throughput, clustering, ... the same way.
"""
from __future__ import annotations

import argparse
import functools
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import soundfile as sf

from songspace import audio, config
from songspace.cache import atomic_to_csv
from songspace.features import extract_audio
from songspace.parallel import map_tracks


class PeakRSS:
    """Peak resident memory (MB) of this process plus all its children, sampled every ``every`` s."""

    def __init__(self, every: float = 0.05):
        self.every, self.peak, self._stop = every, 0.0, threading.Event()

    def _sample(self):
        me = psutil.Process()
        while True:
            rss = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, rss / 2**20)
            if self._stop.wait(self.every):
                return

    def __enter__(self):
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


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
    list(map_tracks(fn, paths[:n_jobs], n_jobs=n_jobs, progress=False))

    with PeakRSS() as mem_d:
        t0 = time.perf_counter()
        audio_s = sum(map_tracks(fn, paths, n_jobs=n_jobs, desc=f"{corpus} decode x{n_jobs}"))
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


def bench_features(args) -> pd.DataFrame:
    """Decode-only vs full extraction, 1 worker vs all cores, on the real mp3s and a synthetic corpus."""
    p = audio.AudioParams()
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory(prefix="songspace-bench-") as tmp:
        tmp = Path(tmp)
        corpora = []
        jam = _jamendo_tracks(Path(args.jamendo))
        if jam is None:
            print(f"[bench] no mp3 under {args.jamendo}/mp3: real-audio rows skipped")
        else:
            corpora.append(("jamendolyrics_mp3", jam))
        if args.n_synth > 0:
            (tmp / "synth").mkdir()
            t0 = time.perf_counter()
            corpora.append((f"synthetic_wav44k_{args.synth_seconds:g}s", make_synth_corpus(tmp / "synth", args.n_synth, args.synth_seconds)))
            print(f"[bench] generated {args.n_synth} synthetic tracks in {time.perf_counter() - t0:.1f} s")
        for name, tracks in corpora:
            for n_jobs in sorted({1, cores}):
                rows.append(_features_one(name, tracks, n_jobs, p, tmp / f"{name}"))
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    # whole-run maximum of the parent alone (kernel's ru_maxrss); workers are in the sampled peaks
    df["ru_maxrss_mb_parent_run"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return df


SECTIONS = {"features": bench_features}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(config.RESULTS / "bench"))
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {sorted(SECTIONS)}")
    ap.add_argument("--jamendo", default=str(config.ROOT.parent / "shared" / "data" / "jamendolyrics"))
    ap.add_argument("--n-synth", type=int, default=500)
    ap.add_argument("--synth-seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    for name in [s.strip() for s in args.only.split(",") if s.strip()]:
        if name not in SECTIONS:
            raise SystemExit(f"unknown section {name!r}; choose from {sorted(SECTIONS)}")
        df = SECTIONS[name](args)
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(f"\n== {name} ==\n{df.to_string(index=False)}")
        atomic_to_csv(df, out / f"{name}.csv")
        print(f"[bench] wrote {out / f'{name}.csv'}")


if __name__ == "__main__":
    main()
