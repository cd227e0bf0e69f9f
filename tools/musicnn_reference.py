"""Reference outputs of the ORIGINAL musicnn TensorFlow graph, for tests/test_musicnn.py (not run by tests).

Only the network is compared: both sides get the same float32 log-mel patches, computed by
``songspace.features.musicnn`` from three synthetic clips that ``parity_clips`` regenerates with numpy alone.

Build the scratch TensorFlow venv once, outside the repository (about 2 GB; never a project dependency).
musicnn's metadata pins an old numpy that no longer builds, hence ``--no-deps``::

    python3 -m venv /work/tfref
    /work/tfref/bin/pip install tensorflow-cpu tf-keras
    /work/tfref/bin/pip install --no-deps musicnn==0.1.0

Then, from the repository root, with the project's environment (and musicnn installed there with --no-deps)::

    PYTHONPATH=$PWD/lib .venv/bin/python tools/musicnn_reference.py --tf-python /work/tfref/bin/python

It computes the patches, runs this same file under the TF interpreter (``--run-tf``) on them,
compares the torch port on every patch (max absolute differences are printed) and prints the
``REFERENCE`` dict to paste into tests/test_musicnn.py.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

SR = 16000
CLIP_S = 10.0
PEN_DIMS = list(range(0, 200, 20))  # penultimate dimensions summarised in the test (mean over patches)


def parity_clips() -> list[np.ndarray]:
    """Three deterministic 10-s clips at 16 kHz, float32, from numpy alone.

    0: seeded noise bursts over a low thump (percussive, broadband);
    1: repeated exponential chirps 100 Hz -> 6 kHz plus a quiet noise floor;
    2: harmonic tones (a slow chord sequence, 8 harmonics, vibrato).
    """
    n = int(CLIP_S * SR)
    t = np.arange(n) / SR
    rng = np.random.default_rng(20240501)
    # 0: 8 noise bursts per second with exponential decays, plus a 55 Hz thump every half second
    env = np.exp(-((t * 8) % 1.0) * 6.0)
    thump = np.sin(2 * np.pi * 55 * t) * np.exp(-((t * 2) % 1.0) * 10.0)
    c0 = 0.3 * rng.standard_normal(n) * env + 0.5 * thump
    # 1: a 1.25-s exponential chirp repeated, with a noise floor
    tc = t % 1.25
    f0, f1 = 100.0, 6000.0
    phase = 2 * np.pi * f0 * 1.25 / np.log(f1 / f0) * ((f1 / f0) ** (tc / 1.25) - 1)
    c1 = 0.4 * np.sin(phase) + 0.02 * rng.standard_normal(n)
    # 2: a chord every 2.5 s (root, third, fifth), 8 harmonics with 1/h amplitudes, 5 Hz vibrato
    c2 = np.zeros(n)
    roots = [220.0, 174.6, 261.6, 196.0]
    for i, root in enumerate(roots):
        seg = (t >= 2.5 * i) & (t < 2.5 * (i + 1))
        for ratio in (1.0, 1.26, 1.5):
            f = root * ratio * (1 + 0.004 * np.sin(2 * np.pi * 5 * t[seg]))
            ph = 2 * np.pi * np.cumsum(f) / SR
            for h in range(1, 9):
                c2[seg] += np.sin(h * ph) / h
    c2 *= 0.15
    return [c.astype(np.float32) for c in (c0, c1, c2)]


def summarise(pen: np.ndarray, tags: np.ndarray) -> dict:
    """What the test stores per clip: mean over patches of the 50 tags and of some penultimate dims."""
    return dict(tags=[round(float(v), 4) for v in tags.mean(axis=0)],
                pen=[round(float(v), 4) for v in pen.mean(axis=0)[PEN_DIMS]])


def run_tf(npz_in: str, npz_out: str) -> None:
    """Run musicnn's own graph (models.define_model + Saver.restore, errors NOT swallowed) on the patches."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from musicnn import configuration, models

    pkg = os.path.dirname(models.__file__)
    data = np.load(npz_in)
    out = {}
    for model in ("MSD_musicnn", "MTT_musicnn"):
        labels = configuration.MSD_LABELS if "MSD" in model else configuration.MTT_LABELS
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, 187, configuration.N_MELS])
            is_training = tf.compat.v1.placeholder(tf.bool)
            y, *_, penultimate = models.define_model(x, is_training, model, len(labels))
            prob = tf.nn.sigmoid(y)
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver().restore(sess, os.path.join(pkg, model) + "/")
            for key in data.files:
                p, t = sess.run([penultimate, prob], feed_dict={x: data[key], is_training: False})
                out[f"{model}/{key}/pen"], out[f"{model}/{key}/tags"] = p, t
    np.savez(npz_out, **out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tf-python", help="python of the scratch TensorFlow venv")
    ap.add_argument("--run-tf", nargs=2, metavar=("PATCHES_NPZ", "OUT_NPZ"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_tf:
        return run_tf(*args.run_tf)
    if not args.tf_python:
        ap.error("--tf-python is required")
    import torch
    from songspace.features import musicnn

    torch.set_num_threads(1)
    clips = {f"clip{i}": musicnn.patches(musicnn.logmel(c))[0] for i, c in enumerate(parity_clips())}
    with tempfile.TemporaryDirectory() as d:
        np.savez(f"{d}/in.npz", **clips)
        subprocess.run([args.tf_python, __file__, "--run-tf", f"{d}/in.npz", f"{d}/out.npz"], check=True)
        with np.load(f"{d}/out.npz") as z:
            tf_out = {k: z[k] for k in z.files}
    reference = {}
    for model in ("MSD_musicnn", "MTT_musicnn"):
        m = musicnn.load(model)
        for key, P in clips.items():
            pen, tags = m.forward_patches(P)
            tp, tt = tf_out[f"{model}/{key}/pen"], tf_out[f"{model}/{key}/tags"]
            print(f"{model} {key}: {len(P)} patches, max |torch - tf| tags {np.abs(tags - tt).max():.2e}, "
                  f"penultimate {np.abs(pen - tp).max():.2e} (penultimate range {tp.min():.2f}..{tp.max():.2f})",
                  file=sys.stderr)
            reference.setdefault(model, {})[key] = summarise(tp, tt)
    print("REFERENCE = " + json.dumps(reference))


if __name__ == "__main__":
    main()
