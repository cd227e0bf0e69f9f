"""Project paths and the tiny profile shared by tests and the demo.

Parameter sets live beside the code that uses them (``audio.AudioParams``,
``train.TrainConfig``, ...) as plain dataclasses a papermill cell can build from a dict.
"""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """Root of the checkout: ``$SONGSPACE_ROOT`` if set, else the folder holding ``pyproject.toml``."""
    env = os.environ.get("SONGSPACE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    return Path.cwd().resolve()


ROOT = project_root()
DATA = ROOT / "data"
RAW = DATA / "raw"
INTERIM = DATA / "interim"
PROCESSED = DATA / "processed"
RESULTS = ROOT / "results"


def dataset_dirs(name: str, data_root: Path | str | None = None, results_root: Path | str | None = None) -> dict[str, Path]:
    """Folders of one dataset along the pipeline.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"jamendolyrics"`` or ``"demo"``.
    data_root, results_root : path, optional
        Override ``data/`` and ``results/`` (tests point them at a tmp dir).

    Returns
    -------
    dict with keys ``raw``, ``interim``, ``processed``, ``cache`` (per-track feature and embedding
    cache, shared by datasets: keyed by content), ``results``, ``runs`` (run folders),
    ``embeddings`` (2-D maps of the report).
    """
    d = Path(data_root) if data_root else DATA
    r = Path(results_root) if results_root else RESULTS
    return {
        "raw": d / "raw" / name,
        "interim": d / "interim" / name,
        "processed": d / "processed" / name,
        "cache": d / "interim" / "cache",
        "results": r,
        "runs": r / "runs",
        "embeddings": r / "embeddings",
    }


# Per-stage parameters of each profile. "tiny" is what tests and the smoke run use; "full" is `make all`.
# Notebooks read ``PROFILES[profile]`` in their parameters cell and may override any entry.
PROFILES: dict[str, dict] = {
    "full": {
        # 32 mel bands x 64 frames (1.5 s) keeps ConvVAE training and its sweep inside the 20-minute
        # budget of `make all` on 2 cores (64 x 128 trains ~8x slower); raise both on a bigger machine.
        "audio": {"sr": 22050, "window_s": 3.0, "hop_s": 1.5, "n_mels": 32, "patch_frames": 64},
        # musicnn's pretrained embedding is the default audio input: on real 10-genre audio it clusters
        # genre far better than hand-made descriptors (stack notes: AMI 0.87 vs 0.56); both are scored
        "audio_backends": ["descriptors", "musicnn-msd"],
        "audio_backend": "musicnn-msd",
        "lyrics_backends": ["e5", "minilm", "tfidf"],
        "lyrics_backend": "e5",
        "mlp_train": {"epochs": 300, "batch_size": 32, "lr": 1e-3, "warmup_epochs": 30, "patience": 40},
        "conv_train": {"epochs": 30, "batch_size": 64, "lr": 1e-3, "warmup_epochs": 3, "patience": 5},
        # 16, not 8: song-level VAEs on 200-384-d embeddings lost cluster structure in 8 dims. Measured
        # (K-Means AMI, 5 seeds, 8 -> 16): shipped corpus language, lyrics_vae 0.977 -> 1.000, mlp_vae
        # 0.909 -> 0.947; 60 real excerpts of 10 songs, song identity from musicnn, mlp_vae 0.857 -> 0.907
        # (the raw embedding: 0.902). Against it: the window-level VAE, genre of the 10 shipped songs with
        # audio, 0.444 -> 0.001 (both inside that label's chance band). The ConvVAE and the PCA baselines
        # use the same size.
        "latent_dim": 16,
        "seeds": [0, 1, 2, 3, 4],
        "n_perm": 100,  # permutations per chance level (the p95 needs ~100; 200 doubles 05's time)
        "sweep": "default",
        # samples (windows) a window-level run and the ConvVAE sweep may see: see songspace.budget.
        # ~30 s per run on a 2-core machine. The shipped corpus's runs fit (they train as configured);
        # its sweep (7 ConvVAE configurations, 373,000 samples over 5 seeds) keeps 2 seeds.
        # A song-level run (one row per song) over song_samples trains fewer epochs: from ~400 songs on.
        # 1,000 synthetic songs: 124 of 300 epochs, ~7 s per run, 02 in 168 s. 60,000 (74 epochs, 02 in
        # 112 s) lost language AMI on every hybrid VAE (mlp_vae 0.88 +- 0.27 -> 0.73 +- 0.37, beta_vae
        # 0.54 -> 0.20, multimodal 0.44 -> 0.23; 5 seeds), so the minute it saved was not worth it.
        "budget": {"run_samples": 40_000, "sweep_samples": 150_000, "song_samples": 100_000},
    },
    "tiny": {
        "audio": {"sr": 16000, "window_s": 1.0, "hop_s": 1.0, "n_mels": 16, "patch_frames": 16},
        "audio_backends": ["descriptors", "musicnn-msd"],
        "audio_backend": "musicnn-msd",
        "lyrics_backends": ["tfidf"],
        "lyrics_backend": "tfidf",
        "mlp_train": {"epochs": 30, "batch_size": 16, "lr": 3e-3, "warmup_epochs": 5, "patience": 30},
        "conv_train": {"epochs": 3, "batch_size": 32, "lr": 1e-3, "warmup_epochs": 1, "patience": 3},
        "latent_dim": 4,
        "seeds": [0, 1],
        "n_perm": 20,
        "sweep": "tiny",
        "budget": {"run_samples": 40_000, "sweep_samples": 400_000},
    },
}


def profile(name: str) -> dict:
    """Parameters of a named profile ("full" or "tiny"); a clear error for anything else."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    import copy

    return copy.deepcopy(PROFILES[name])
