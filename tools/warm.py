"""Compile the numba-backed code once per environment, before parallel workers race to build its cache.

librosa and umap-learn compile numba functions on first use and cache them in site-packages. Two
processes compiling the same function at once (pytest-xdist workers, joblib workers on a fresh
``.venv``) can leave a half-written cache entry, and loading it crashed a worker with a segmentation
fault here. ``make env`` runs this once, serially, so every later process only loads the cache::

    .venv/bin/python tools/warm.py
"""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("songspace.warm")  # not __name__ ("__main__" as a script): setup_logging shows songspace.*


def main() -> None:
    t0 = time.perf_counter()
    import bench  # tools/bench.py, beside this script
    import soundfile as sf
    from songspace.features import audio, per_track

    per_track._warm_up(audio.AudioParams())  # the extraction path of songspace.features.extract
    with tempfile.TemporaryDirectory() as d:  # the plain librosa loop that `make bench` compares against
        path = Path(d) / "noise.wav"
        sf.write(path, np.random.default_rng(0).standard_normal(22050 * 4).astype(np.float32) * 0.1, 22050)
        bench.plain_librosa_features(str(path))
    from songspace.report import projection  # umap with its kernels cached (projection.umap_module)

    for dtype in (np.float64, np.float32):  # the maps' inputs come in both
        X = np.random.default_rng(0).normal(size=(40, 4)).astype(dtype)
        projection.umap_module().UMAP(n_neighbors=5, random_state=0, n_jobs=1).fit_transform(X)
    log.info("numba caches warm (%.0f s)", time.perf_counter() - t0)


if __name__ == "__main__":
    from songspace.log import setup_logging

    setup_logging()
    main()
