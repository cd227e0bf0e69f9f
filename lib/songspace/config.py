"""Every setting of the pipeline in one place: paths and artifact names, profiles, the model family, sweep grids.

A notebook reads ``profile(profile, overrides)`` right after its parameters cell; typed parameter sets
(``audio.AudioParams``, ``loop.TrainConfig``, ``budget.Budget``) are built from these dicts where they are used.
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


# What the notebooks write to the results folder, named once (``dataset_dirs`` gives their paths).
RESULT_FILES = {
    "runs_mlp": "runs_mlp.csv",  # 02's runs index
    "runs_conv": "runs_conv.csv",  # 03's
    "sweep_metrics": "metrics_summary.csv",  # 04: one row per sweep configuration
    "sweep_budget": "sweep_budget.json",  # 04: what the budget cut
    "representation_comparison": "representation_comparison.csv",  # 05: mean +- std per representation
    "cluster_comparison": "cluster_comparison.csv",  # 05: clustering algorithms compared
    "scores_long": "scores_long.csv",  # 05: every (representation, method, seed, label) row
    "clusters": "clusters.csv",  # 05: the take-away clusters
    "neighbours": "neighbours.csv",
    "recommended": "recommended.json",
    "playlists": "playlists",  # 05: one .m3u8 per cluster of clusters.csv
    "assign_state": "assign",  # 05: what `songspace assign` needs to place new songs (no retraining)
    "assigned": "assigned.csv",  # `songspace assign`: the new songs' clusters and nearest songs
    "report_html": "report.html",  # 06 (through nbconvert)
    "report_pdf": "report.pdf",
}


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
    ``embeddings`` (2-D maps of the report), and one per ``RESULT_FILES`` entry (its path in ``results``).
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
        **{key: r / name for key, name in RESULT_FILES.items()},
    }


# Vector models of 02_mlp_vae. ``input``: which view of the data; ``condition_column``: CVAE label
# (``family`` replaces it by the notebook's ``cvae_condition``).
# ``audio_windows``: trained on every window of every training song (20-100x more samples than one
# vector per song), a song embedded as the mean of its windows' posterior means.
# ``vade``: mixture prior whose components are the clusters, pretrained as an AE (``pretrain_epochs``).
# ``neighbour_weight`` / ``neighbours``: TrainConfig's neighbour-consistency term.
MLP_FAMILY = {
    "mlp_vae": {"kind": "mlp_vae", "input": "hybrid", "beta": 1.0},
    "beta_vae": {"kind": "mlp_vae", "input": "hybrid", "beta": 4.0},
    "cvae_language": {"kind": "cvae", "input": "hybrid", "beta": 1.0, "condition_column": "language"},
    "ae": {"kind": "ae", "input": "hybrid", "beta": 0.0},
    "multimodal_vae": {"kind": "multimodal_vae", "input": "multimodal", "beta": 1.0},
    "lyrics_vae": {"kind": "mlp_vae", "input": "lyrics", "beta": 1.0},
    "audio_window_vae": {"kind": "mlp_vae", "input": "audio_windows", "beta": 1.0, "epochs_share": 0.2,
                         "batch_size": 128},
    "vade": {"kind": "vade", "input": "hybrid", "beta": 1.0, "pretrain_share": 0.2},
    # neighbour consistency (training.neighbours): a song's posterior mean pulled towards one of its 10 nearest
    # training songs in the input, as SCAN does for clusters; a lower beta leaves the latent room to keep them.
    "nc_vae": {"kind": "mlp_vae", "input": "hybrid", "beta": 0.25, "neighbour_weight": 1.0, "neighbours": 10},
}

# Sweep grids per profile (04's ``sweep`` parameter may replace them). Lists are swept, scalars fixed; training
# settings a grid leaves out come from the profile (``mlp_train``, ``conv_train``: see ``sweep.sweep_configs``).
_MLP_GRID = [
    # beta and latent size on the MLP VAE (cheap), trained as 02 trains (the profile's mlp_train)
    {"model": "mlp_vae", "beta": [0.5, 1.0, 2.0, 4.0], "latent_dim": 16},
    {"model": "mlp_vae", "beta": 1.0, "latent_dim": [8, 32]},
]
_CONV = {"model": "conv_vae", "first_channels": 16, "hidden_channels": 16, "kernel_size": 3, "n_layers": 3,
         "latent_dim": 16, "lr": 1e-3, "epochs": 10, "batch_size": 64, "warmup_epochs": 2, "patience": 3, "beta": 1.0}
SWEEPS = {
    # The ConvVAE's grid is not in the default run: on real audio the ConvVAE clusters below the pooled
    # descriptors (Emotify, 400 clips, genre AMI 0.154 against 0.210) while its training and sweep were
    # two thirds of a run (docs/benchmarks.md). 03 trains the musicnn-transfer ConvVAE (``conv_model``) once
    # per seed; `make all SWEEP=seed` (04's ``sweep`` parameter) runs the seed report's grid, which is still
    # the seed's conv encoder (no ``encoder`` key: ``"conv"``).
    "default": _MLP_GRID,
    "seed": [
        # the seed report's grid: first-layer x hidden channels, then kernel 3/5 x lr 1e-3/5e-4, then a longer run
        {**_CONV, "first_channels": [16, 32, 64], "hidden_channels": [16, 32]},
        {**_CONV, "kernel_size": [3, 5], "lr": [1e-3, 5e-4]},
        {**_CONV, "lr": 5e-4, "epochs": [80], "warmup_epochs": 3, "patience": 10},
        *_MLP_GRID,
    ],
    "tiny": [
        {"model": "conv_vae", "first_channels": [8, 16], "hidden_channels": 8, "kernel_size": 3, "n_layers": 2,
         "latent_dim": 4, "lr": 1e-3, "epochs": 2, "batch_size": 32, "warmup_epochs": 1, "patience": 2, "beta": 1.0},
        {"model": "mlp_vae", "beta": [1.0, 4.0], "latent_dim": 4},
    ],
}


# Per-stage parameters of each profile. "tiny" is what tests and the smoke run use; "full" is `make all`.
# Notebooks read them through ``profile(name, overrides)``: their ``overrides`` parameter changes any entry.
PROFILES: dict[str, dict] = {
    "full": {
        # 32 mel bands x 64 frames (1.5 s) keeps ConvVAE training and its sweep inside the 20-minute
        # budget of `make all` on 2 cores (64 x 128 trains ~8x slower); raise both on a bigger machine.
        # musicnn_max_patches: a song's musicnn embedding is the mean of at most 10 of its 3-s patches
        # (30 s), evenly spaced: musicnn (~30 ms a patch) is most of 01, and its cost stops growing with a
        # song's length. On the 10 shipped songs with audio (49-65 patches) the 10-patch mean has cosine 0.955
        # on average (min 0.914) with the all-patch mean, 20 patches 0.975 (min 0.948; standardised on those
        # songs), and every song stays its own nearest neighbour with either. Emotify (400 real 60-s clips,
        # genre folder, K-Means AMI, 5 seeds): 10 patches 0.532 +- 0.000, 20 patches 0.525 +- 0.002, and the
        # musicnn part of 01 111 s instead of 181 s: 20 kept `make all` on those clips over 8 minutes.
        "audio": {"sr": 22050, "window_s": 3.0, "hop_s": 1.5, "n_mels": 32, "patch_frames": 64,
                  "musicnn_max_patches": 10},
        # musicnn's pretrained embedding is the default audio input: on real 10-genre audio it clusters
        # genre far better than hand-made descriptors (stack notes: AMI 0.87 vs 0.56); both are scored
        "audio_backends": ["descriptors", "musicnn-msd"],
        "audio_backend": "musicnn-msd",
        "lyrics_backends": ["e5", "minilm", "tfidf"],
        "lyrics_backend": "e5",
        "mlp_train": {"epochs": 300, "batch_size": 32, "lr": 1e-3, "warmup_epochs": 30, "patience": 40},
        # free_bits: each latent dimension's KL counts as at least 0.5 nats, so no dimension is pushed onto
        # the prior in the first epochs. Without it the ConvVAE collapsed (0 active units, stopped after
        # ~10 epochs at twice the ELBO) on seed 0 of 5 on 60 real excerpts, and 03's beta = 4 run on
        # every collection tried (shipped corpus, those excerpts, 108 synthetic songs), which left the
        # report without a latent traversal. With it: 16 active units in all of them.
        # neighbour_weight: each musicnn patch's posterior mean is pulled towards the same stretch of one of
        # its song's 10 nearest training songs (training.neighbours.window_neighbour_table). Emotify, 400 real
        # clips, genre folder, K-Means AMI, 3 seeds, weight 0 / 1 / 4 / 10 / 30 / 100: 0.206 (5 seeds) / 0.290 /
        # 0.339 / 0.373 +- 0.014 / 0.377 / 0.447 +- 0.040, validation reconstruction error 941 (weight 1) /
        # 985 / 1009 / 1037: 10 is where the gain flattens for 5 % more error; past it the latent is more the
        # neighbour graph than the patch it rebuilds. Not for the seed's conv encoder (no song vectors).
        "conv_train": {"epochs": 15, "batch_size": 64, "lr": 1e-3, "warmup_epochs": 3, "patience": 5,
                       "free_bits": 0.5, "neighbour_weight": 10.0, "neighbours": 10},
        # 03's ConvVAE (models.conv.TransferConvVAE): a linear head on musicnn's frozen per-patch penultimate
        # layer (the weights of the installed package, run once in 01) to the posterior, and a conv decoder
        # (8 channels) to the 32 x 64 log-mel patch. Emotify, 400 real clips, genre folder, K-Means AMI over 5
        # seeds (05's scoring): 0.206 +- 0.058 against descriptors 0.210 +- 0.022 and the seed's conv encoder
        # 0.154 +- 0.009, a tie with the descriptors, not a win; without free bits 0.205 +- 0.064, with the 50 tags
        # 0.197 +- 0.036, a 128-unit hidden layer + tags 0.174 (3 seeds). 03 on those clips: 367 s -> 65 s.
        # ``{"encoder": "conv", ...}`` trains the seed's ConvVAE.
        "conv_model": {"encoder": "musicnn-msd", "hidden": [], "n_layers": 3, "first_channels": 8,
                       "hidden_channels": 8, "kernel_size": 3},
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
        # 04 screens each configuration on its first seed under Optuna's successive-halving pruner
        # (training.pruning): rungs at min_epochs x 3^i, never before a configuration's KL warm-up has
        # ended; None trains every configuration over every seed
        "sweep_pruning": {"min_epochs": 3, "reduction_factor": 3},
        # samples (windows) a window-level run and the ConvVAE sweep may see: see songspace.training.budget.
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
        "conv_train": {"epochs": 3, "batch_size": 32, "lr": 1e-3, "warmup_epochs": 1, "patience": 3,
                       "free_bits": 0.5, "neighbour_weight": 10.0, "neighbours": 3},
        "conv_model": {"encoder": "musicnn-msd", "hidden": [], "n_layers": 2, "first_channels": 8,
                       "hidden_channels": 8, "kernel_size": 3},
        "latent_dim": 4,
        "seeds": [0, 1],
        "n_perm": 20,
        "sweep": "tiny",
        "sweep_pruning": {"min_epochs": 1, "reduction_factor": 3},
        "budget": {"run_samples": 40_000, "sweep_samples": 400_000},
    },
}


def profile(name: str, overrides: dict | None = None) -> dict:
    """Parameters of a named profile ("full" or "tiny"), with ``overrides`` merged in (nested dicts
    key by key: ``{"budget": {"run_samples": 10_000}}`` keeps the other budget entries).

    A clear error for an unknown profile or an override of a setting the profile does not have.
    """
    import copy

    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    out = copy.deepcopy(PROFILES[name])

    def merge(into: dict, new: dict, where: str) -> None:
        for key, value in new.items():
            if key not in into:
                raise ValueError(f"profile {name!r} has no setting {where + key!r}; it has {sorted(into)}")
            if isinstance(into[key], dict) and isinstance(value, dict):
                merge(into[key], value, f"{where}{key}.")
            else:
                into[key] = copy.deepcopy(value)

    merge(out, overrides or {}, "")
    return out
