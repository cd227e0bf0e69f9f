"""Realtime factor of the musicnn backend on one core, decode included (not run by tests).

Writes a few synthetic 30-s stereo 44.1 kHz WAVs, runs ``extract_audio(audio_backends=[backend],
n_jobs=1, cache_dir=False)`` once to warm up (model load, numba) and then timed, on one thread, and
prints seconds of audio per second of wall time, with the time split into decode + resample, front
end and network. Both CPU time (one core's work, robust on a shared machine) and wall time are reported::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD/lib .venv/bin/python tools/musicnn_speed.py [--n 4] [--backend musicnn-msd]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from songspace.features import audio, extract, musicnn, per_track


def write_clips(d: Path, n: int, seconds: float = 30.0, sr: int = 44100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    rows = []
    for i in range(n):
        f0 = 110 * 2 ** (i / 3)
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
        y = 0.2 * tone + 0.1 * rng.standard_normal(len(t)) * np.exp(-((t * 4) % 1.0) * 8)
        path = d / f"clip{i}.wav"
        sf.write(path, np.stack([y, np.roll(y, 100)], axis=1).astype(np.float32), sr)
        rows.append(dict(track_id=f"clip{i}", audio_path=str(path), has_audio=True))
    return pd.DataFrame(rows)


def split(path: str, model: musicnn.MusicnnModel, p: audio.AudioParams) -> dict:
    """CPU seconds spent per stage on one file."""
    t0 = time.process_time()
    y16 = per_track._to_16k(audio.decode(path, p.sr), p.sr)
    t1 = time.process_time()
    P, _ = musicnn.patches(musicnn.logmel(y16))
    t2 = time.process_time()
    model.forward_patches(P)
    t3 = time.process_time()
    return dict(decode_resample=t1 - t0, front_end=t2 - t1, network=t3 - t2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4, help="number of 30-s clips")
    ap.add_argument("--backend", default="musicnn-msd", choices=list(extract.MUSICNN_BACKENDS))
    args = ap.parse_args()
    torch.set_num_threads(1)
    p = audio.AudioParams()
    with tempfile.TemporaryDirectory() as d:
        tracks = write_clips(Path(d), args.n)
        kw = dict(n_jobs=1, cache_dir=False, progress=False, audio_backends=[args.backend])
        extract.extract_audio(tracks.iloc[:1], p, Path(d) / "warm", **kw)
        cpu = time.process_time()
        st = extract.extract_audio(tracks, p, Path(d) / "out", **kw)
        cpu = time.process_time() - cpu
        model = musicnn.load(extract.MUSICNN_BACKENDS[args.backend])
        parts = pd.DataFrame([split(a, model, p) for a in tracks["audio_path"]]).sum()
    # CPU time is what one core spends, whatever else runs on the machine; wall time includes waiting
    print(f"{args.backend}: {st['audio_s']:.0f} s of audio on one thread in {cpu:.2f} s of CPU time: "
          f"{st['audio_s'] / cpu:.0f}x realtime per core ({st['wall_s']:.2f} s wall: {st['x_realtime']:.0f}x)")
    print("CPU time split (s): " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
