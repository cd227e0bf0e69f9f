"""The sweeps of 04: which configurations, what one of them runs, what fits the budget, which the pruner stops.

``config.SWEEPS`` holds the grids per profile and ``sweep_configs`` expands one (``runner.grid``); ``SweepJob``
trains a configuration over seeds and scores it; ``budget_sweep`` keeps what fits the budget;
``prune_sweep`` screens every configuration on its first seed under Optuna's pruner
(``training.pruning``); ``train_sweep_runs`` trains the survivors' ConvVAE runs ahead, one job per
(configuration, seed); ``runner.run_sweep`` then scores each configuration, resumably.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from songspace.cache import library_versions, params_hash
from songspace.config import SWEEPS
from songspace.evaluation import compare
from songspace.evaluation.runner import config_hash, grid, parts_dir, read_part, record
from songspace.training import inputs, runs
from songspace.training.budget import Budget, run_cost, sweep_plan, window_training

log = logging.getLogger(__name__)


class SweepJob:
    """Runs one sweep configuration: train over seeds, score song-level K-Means, return mean/std metrics.

    A configuration is a dict with ``model`` ("conv_vae" or "mlp_vae"), model settings (``latent_dim``,
    ``first_channels``, ``hidden_channels``, ``kernel_size``, ``n_layers``, ``hidden``), training settings
    (``epochs``, ``lr``, ``beta``, ``batch_size``, ``warmup_epochs``, ``patience``). Picklable, so the
    sweep runner can send it to worker processes or a Dask cluster.
    """

    MODEL_KEYS = ("latent_dim", "first_channels", "hidden_channels", "kernel_size", "n_layers", "hidden")
    TRAIN_KEYS = ("epochs", "lr", "batch_size", "warmup_epochs", "patience", "free_bits", "val_fraction")

    def __init__(self, interim_dir, processed_dir, runs_root, seeds, columns, lyrics_backend, n_perm=100,
                 audio_backend="descriptors", budget: dict | None = None):
        self.interim_dir, self.processed_dir, self.runs_root = str(interim_dir), str(processed_dir), str(runs_root)
        self.seeds, self.columns, self.lyrics_backend, self.n_perm = list(seeds), list(columns), lyrics_backend, n_perm
        self.audio_backend, self.budget = audio_backend, budget

    def with_seeds(self, seeds) -> "SweepJob":
        """The same job over other seeds (what ``budget_sweep`` keeps)."""
        return SweepJob(self.interim_dir, self.processed_dir, self.runs_root, seeds, self.columns, self.lyrics_backend,
                        self.n_perm, self.audio_backend, self.budget)

    def __call__(self, cfg: dict) -> dict:
        tracks, blocks = self.data()
        index = runs.train_runs(self.run_specs(cfg, tracks, blocks), threads=1)
        songs = (np.unique(inputs.latents(index["run_dir"].iloc[0])[1]) if cfg["model"] == "conv_vae"
                 else blocks.track_ids)
        index["model"] = "run"
        # as 05's side tables; when every label has more classes, silhouette only, as without labels
        columns, _ = compare.few_class_columns(tracks, self.columns, songs)
        long = compare.score(compare.representations(index, blocks), {}, tracks, columns, songs, n_perm=self.n_perm)
        summary = compare.summarise(long, by=("label_column", "k"))
        out = {"n_songs": int(len(songs)), "n_seeds": len(self.seeds),
               "best_epoch_mean": float(index["best_epoch"].mean()), "run_dirs": ";".join(index["run_dir"])}
        # internal metrics depend on k, which is the label's number of classes: one set per label
        for row in summary.to_dict("records"):
            col = row["label_column"]
            out[f"{col}_k"] = int(row["k"]) if pd.notna(row["k"]) else None
            for m in ("silhouette", "ari", "nmi", "ami", "purity", "ami_chance"):
                if f"{m}_mean" in row:  # no external metrics when there is no label
                    out[f"{col}_{m}_mean"] = float(row[f"{m}_mean"])
                    out[f"{col}_{m}_std"] = float(row[f"{m}_std"])
        return out

    def data(self) -> tuple[pd.DataFrame, inputs.Blocks]:
        """The tracks table and the song-level blocks the configurations train and are scored on."""
        from songspace.data.loading import read_tracks

        tracks = read_tracks(self.interim_dir, self.processed_dir)
        return tracks, inputs.load_blocks(tracks, self.processed_dir, self.lyrics_backend, self.audio_backend)

    def run_specs(self, cfg: dict, tracks: pd.DataFrame, blocks: inputs.Blocks) -> list[runs.RunSpec]:
        """The runs (one per seed, in seed order) of a configuration."""
        if cfg["model"] == "conv_vae":
            return self.conv_runs(cfg)
        model_cfg = {k: cfg[k] for k in self.MODEL_KEYS if k in cfg}
        train_kw = {k: cfg[k] for k in self.TRAIN_KEYS if k in cfg}
        spec = {f"sweep-{cfg['run_name']}": {"kind": "mlp_vae", "input": "hybrid", "beta": cfg.get("beta", 1.0)}}
        return runs.family_runs(blocks, tracks, model_cfg.pop("latent_dim", 8), train_kw, self.seeds, self.runs_root,
                                specs=spec, hidden=model_cfg.get("hidden", (128, 64)), budget=self.budget)

    def conv_runs(self, cfg: dict) -> list[runs.RunSpec]:
        """The runs (one per seed) of a ConvVAE configuration."""
        return runs.conv_runs(self.processed_dir, {k: cfg[k] for k in self.MODEL_KEYS if k in cfg},
                              {k: cfg[k] for k in self.TRAIN_KEYS if k in cfg}, self.seeds, self.runs_root,
                              name=f"sweep-{cfg['run_name']}", beta=cfg.get("beta", 1.0), budget=self.budget)

    def context(self) -> dict:
        """What a sweep result depends on besides its settings: data, seeds, labels, code version.

        Added to every configuration's hash, so a finished configuration is reused only when all of
        these are unchanged (a resumed sweep), never after the data or the library changed.
        """
        from songspace.cache import file_hash
        from songspace.features.lyrics import backend_slug
        from songspace.features.saved import backend_path, read_meta
        from songspace.training.store import TRAIN_VERSION, TRAINING_LIBRARIES

        processed = Path(self.processed_dir)
        # every input a configuration may train on: the ConvVAE's log-mel patches and the backend's patch
        # vectors too (01 rewrites only these when n_mels or patch_frames change), and 01's parameters
        files = [Path(self.interim_dir) / "tracks.parquet", processed / "features.json", processed / "windows.parquet",
                 processed / "descriptors_tracks.parquet", processed / "logmel.npy",
                 backend_path(processed, self.audio_backend),
                 backend_path(processed, self.audio_backend, "windows.npy") if self.audio_backend else None,
                 processed / f"lyrics_{backend_slug(self.lyrics_backend)}.npy" if self.lyrics_backend else None]
        files = [f for f in files if f is not None]
        budget = {"budget": self.budget} if self.budget is not None else {}  # absent: hashes of older sweeps hold
        data = {f.name: file_hash(f) for f in files if f.exists() and f.name != "features.json"}
        meta = read_meta(processed)  # 01's parameters; not its stats: seconds and cache hits differ in every run
        if meta:
            data["features.json"] = params_hash({k: v for k, v in meta.items() if k != "stats"})
        return {"seeds": self.seeds, "columns": self.columns, "n_perm": self.n_perm, "lyrics": self.lyrics_backend,
                "audio": self.audio_backend, **budget,
                "train_version": TRAIN_VERSION, "libs": library_versions(*TRAINING_LIBRARIES), "data": data}


def sweep_configs(name_or_specs, context: dict | None = None, training: dict | None = None) -> list[dict]:
    """Configurations of a named sweep (``config.SWEEPS``) or of a list of grid specs; duplicates removed.

    ``training`` maps a model (``"mlp_vae"``, ``"conv_vae"``) to the profile's training settings
    (``mlp_train``, ``conv_train``): a grid spec trains with them wherever it does not set a
    ``SweepJob.TRAIN_KEYS`` entry itself, so a sweep never carries a stale copy of the profile.
    ``context`` (e.g. ``SweepJob.context()``) is folded into each ``config_hash``, so results saved
    under another dataset, seed list or code version are never reused.
    """
    if isinstance(name_or_specs, str) and name_or_specs not in SWEEPS:
        raise ValueError(f"unknown sweep {name_or_specs!r}; config.SWEEPS has {sorted(SWEEPS)}")
    specs = SWEEPS[name_or_specs] if isinstance(name_or_specs, str) else name_or_specs
    seen, out = set(), []
    for spec in specs:
        defaults = (training or {}).get(spec.get("model"), {})
        spec = {**spec, **{k: defaults[k] for k in SweepJob.TRAIN_KEYS if k in defaults and k not in spec}}
        for cfg in grid(spec):
            if cfg["config_hash"] not in seen:
                seen.add(cfg["config_hash"])
                out.append({**cfg, "run_name": f"{cfg['model']}-{cfg['run_name']}"})
    return contextualise(out, context) if context else out


def contextualise(configs: list[dict], context: dict) -> list[dict]:
    """Fold ``context`` (``SweepJob.context()``) into each configuration's ``config_hash``: call it once,
    on configurations from ``sweep_configs`` without context, after the job's seeds are final."""
    return [{**c, "config_hash": params_hash({"settings": c["config_hash"], "context": context})} for c in configs]


def budget_sweep(configs: list[dict], job: SweepJob) -> tuple[list[dict], SweepJob, list[str]]:
    """The part of a sweep that fits the job's budget: seeds first, then ConvVAE configurations from
    the end of the grid (``budget.sweep_plan``); the MLP configurations cost little and all stay.

    Returns (configurations kept, the job over the seeds kept, the cuts as sentences).
    """
    conv = [c for c in configs if c["model"] == "conv_vae"]
    if job.budget is None or not conv:
        return configs, job, []
    n_windows, n_songs = inputs.window_counts(job.processed_dir)
    limits = Budget(**job.budget)
    costs = [run_cost(window_training({k: c[k] for k in SweepJob.TRAIN_KEYS if k in c}, n_windows, n_songs, limits)[0],
                      n_windows, n_songs) for c in conv]
    n_seeds, n_conv, cuts = sweep_plan(costs, len(job.seeds), limits)
    dropped = {c["config_hash"] for c in conv[n_conv:]}
    return [c for c in configs if c["config_hash"] not in dropped], job.with_seeds(job.seeds[:n_seeds]), cuts


def _forget_pruned(configs: list[dict], out_csv, current: dict) -> None:
    """Remove the ``pruned`` parts an earlier screen wrote under other settings (``current``: model -> the
    ``Pruning.label`` in force; a model absent: no screen), so ``run_sweep`` trains those configurations
    instead of keeping a verdict the present settings never gave."""
    for cfg in configs:
        path = parts_dir(out_csv) / f"{config_hash(cfg)}.json"
        part = read_part(path)
        if part and part.get("status") == "pruned" and part.get("pruned_by") != current.get(cfg["model"]):
            log.info("sweep: %s was pruned under other settings (%s): screened or trained again",
                     cfg.get("run_name"), part.get("pruned_by"))
            path.unlink(missing_ok=True)


def prune_sweep(configs: list[dict], job: SweepJob, out_csv, settings: dict | None) -> tuple[list[dict], str]:
    """Screen every configuration on its first seed under Optuna's successive-halving pruner
    (``training.pruning``) and keep the ones it does not stop; each stopped one gets its final part
    (``status="pruned"``, the epoch and validation -ELBO it stopped at), so ``run_sweep`` lists it and a
    resumed sweep never trains it again.

    Parameters
    ----------
    configs, job : as for ``run_sweep`` (after ``budget_sweep`` and ``contextualise``).
    out_csv : the sweep's CSV (the screen's record is ``<out_csv>.parts/screen-<model>.json``).
    settings : ``pruning.Pruning`` fields (the profile's ``sweep_pruning``); None: no screen.

    Returns
    -------
    (configurations kept, one sentence on what the screen cut and saved).
    """
    from songspace.training.pruning import Pruning, screen

    if settings is None or len(configs) < 2:
        _forget_pruned(configs, out_csv, {})  # no screen now: what an earlier one stopped is trained in full
        return configs, ""
    tracks, blocks = job.data()
    first = {config_hash(c): job.run_specs(c, tracks, blocks)[0] for c in configs}
    screened = {}
    # one study per model: ELBOs of song vectors and of log-mel patches are not on one scale; and no
    # configuration is judged before its KL warm-up has ended
    models = {config_hash(c): c["model"] for c in configs}
    groups = {model: {h: first[h] for h, m in models.items() if m == model} for model in dict.fromkeys(models.values())}
    rungs_of = {model: Pruning(**{**settings, "min_epochs": max(int(settings.get("min_epochs", 1)),
                                                                max(spec.train.warmup_epochs for spec in group.values()))})
                for model, group in groups.items()}
    _forget_pruned(configs, out_csv, {m: r.label for m, r in rungs_of.items()})
    for model, rungs in rungs_of.items():
        group = groups[model]
        screened.update(screen(group, parts_dir(out_csv) / f"screen-{model}.json", rungs, threads=os.cpu_count() or 1))
    kept = []
    for cfg in configs:
        h = config_hash(cfg)
        s = screened[h]
        if not s["pruned"]:
            kept.append(cfg)
            continue
        record(cfg, out_csv, "pruned", pruned_epoch=s["epochs"], pruned_val_neg_elbo=s["neg_elbo"],
               pruned_by=rungs_of[cfg["model"]].label)
    planned = sum(first[config_hash(c)].train.epochs for c in configs)
    trained = sum(s["epochs"] for s in screened.values())
    n_cut = len(configs) - len(kept)
    return kept, (f"the pruner stopped {n_cut} of {len(configs)} configurations early on their first seed "
                  f"(validation -ELBO, successive halving); the screen trained {trained} of at most {planned} "
                  "first-seed epochs, and only the rest are trained over every seed")


def train_sweep_runs(configs: list[dict], job: SweepJob, n_jobs: int = 1, scheduler: str | None = None) -> int:
    """Train the ConvVAE runs of a sweep ahead of it, one job per (configuration, seed), so every worker
    stays busy even when the budget leaves fewer configurations than workers; the sweep then loads them
    (finished runs are never retrained) and scores each configuration. A run that fails here is left to
    the sweep, which trains it again and records the error in that configuration's row.

    Returns the number of runs that failed here.
    """
    specs = [r for c in configs if c["model"] == "conv_vae" for r in job.conv_runs(c)]
    if not specs:
        return 0
    done = runs.train_runs(specs, n_jobs, scheduler, threads=1, keep_going=True)
    return int(done["error"].notna().sum()) if "error" in done else 0


def runnable(configs: list[dict], plan) -> tuple[list[dict], list[str]]:
    """Sweep configurations this collection can train, and one sentence per kind left out."""
    need = {"conv_vae": "conv_vae"}
    keep = [c for c in configs if plan.runs(need.get(c["model"], "models"))]
    dropped = sorted({c["model"] for c in configs} - {c["model"] for c in keep})
    return keep, [plan.skipped.get(need.get(m, "models"), m) for m in dropped]
