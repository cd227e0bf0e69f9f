"""The sweeps of 04: configuration grids, what one configuration runs, and a resumable runner.

``config.SWEEPS`` holds the grids per profile and ``sweep_configs`` expands one (``grid``); ``SweepJob`` trains
a configuration over seeds and scores it; ``budget_sweep`` keeps what fits the budget and
``train_sweep_runs`` trains the ConvVAE runs ahead, one job per (configuration, seed). ``run_sweep``
runs the configurations: each finished one writes one JSON part (atomically) to
``<out_csv>.parts/<config_hash>.json``; the CSV is rebuilt from the parts at the end. Re-running the same
sweep skips every configuration whose part says ``ok`` and retries the failed and the missing ones.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from songspace.cache import (
    atomic_to_csv,
    atomic_write_text,
    params_hash,
    remove_stale_temps,
)
from songspace.config import SWEEPS
from songspace.evaluation import compare
from songspace.parallel import map_ordered
from songspace.training import inputs, runs
from songspace.training.budget import Budget, run_cost, sweep_plan, window_training

RESERVED = ("run_name", "config_hash", "status", "error", "elapsed_s")
log = logging.getLogger(__name__)


def grid(spec: dict | str | os.PathLike) -> list[dict]:
    """Cartesian product of a parameter spec.

    Parameters
    ----------
    spec : dict or path to a YAML file holding one mapping.
        A list value is swept over; any other value (scalar, dict) is fixed. To fix a list-valued
        setting, wrap it: ``hidden: [[256, 128]]`` is one value, ``hidden: [256, 128]`` is two.

    Returns
    -------
    list of dict, in a stable order (keys in spec order, the last key varying fastest). Each dict
    holds every setting plus ``config_hash`` (``songspace.cache.params_hash`` of the settings) and
    ``run_name`` (the swept values, readable and filename-safe, plus the first 8 hash characters).
    """
    if not isinstance(spec, dict):
        import yaml

        path = Path(spec)
        try:
            spec = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"grid: cannot read sweep spec {path}: {e}") from e
        if not isinstance(spec, dict):
            raise ValueError(f"grid: {path} must hold a mapping of setting -> value(s), got {type(spec).__name__}")
    bad = [k for k in spec if k in RESERVED]
    if bad:
        raise ValueError(f"grid: setting names {bad} are reserved for the sweep's own columns")
    swept = [k for k, v in spec.items() if isinstance(v, list)]
    for k in swept:
        if not spec[k]:
            raise ValueError(f"grid: setting {k!r} has an empty list of values")
    configs = []
    for values in itertools.product(*(spec[k] for k in swept)):
        cfg = {k: v for k, v in spec.items()}
        cfg.update(zip(swept, values))
        h = params_hash(cfg)
        label = "_".join(f"{k}={_short(cfg[k])}" for k in swept)
        label = re.sub(r"[^A-Za-z0-9=._-]+", "-", label)[:80]
        cfg["run_name"] = f"{label}_{h[:8]}" if label else f"run_{h[:8]}"
        cfg["config_hash"] = h
        configs.append(cfg)
    return configs


def _short(v) -> str:
    return "-".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    return v


def _hash_of(cfg: dict) -> str:
    return cfg.get("config_hash") or params_hash({k: v for k, v in cfg.items() if k not in RESERVED})


def _run_and_record(cfg: dict, run_one: Callable[[dict], dict], parts_dir: Path) -> dict:
    """Run one configuration and write its part; an Exception becomes a failed row, not a crash."""
    h = _hash_of(cfg)
    t0 = time.perf_counter()
    row = {k: _jsonable(v) for k, v in cfg.items()}
    row.setdefault("config_hash", h)
    row.setdefault("run_name", f"run_{h[:8]}")
    try:
        metrics = run_one(dict(cfg))
        if not isinstance(metrics, dict):
            raise TypeError(f"run_one must return a dict of metrics, got {type(metrics).__name__}")
        for k, v in metrics.items():
            key = k if k not in row else f"out_{k}"  # never let a metric overwrite a setting
            row[key] = _jsonable(v)
        row.update(status="ok", error=None)
    except Exception as e:  # recorded, the sweep goes on
        row.update(status="error", error=f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}")
    row["elapsed_s"] = round(time.perf_counter() - t0, 3)
    atomic_write_text(parts_dir / f"{h}.json", json.dumps(row, default=str, allow_nan=True))
    return row


def _read_part(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # unreadable part: rerun that configuration
        return None


class _Job:
    """Picklable closure for the workers."""

    def __init__(self, run_one, parts_dir):
        self.run_one, self.parts_dir = run_one, parts_dir

    def __call__(self, cfg):
        return _run_and_record(cfg, self.run_one, self.parts_dir)


def run_sweep(configs: list[dict], run_one: Callable[[dict], dict], out_csv: str | os.PathLike,
              n_jobs: int = 1, scheduler: str | None = None, retry_failed: bool = True) -> pd.DataFrame:
    """Run every configuration once, resumably, and collect settings + metrics in one CSV.

    Parameters
    ----------
    configs : list of dict  e.g. from :func:`grid`; ``config_hash`` identifies a configuration
        (computed from the settings when absent).
    run_one : callable(config dict) -> dict of scalar metrics. An Exception it raises is recorded
        (``status="error"``, ``error`` = message and traceback) and the sweep goes on; a
        KeyboardInterrupt stops the sweep, keeping every part already written.
    out_csv : path  the CSV written at the end; parts live in ``<out_csv>.parts/``.
    n_jobs : int  local worker processes (joblib/loky); 1 runs in this process.
    scheduler : str, optional  dask.distributed scheduler address; default ``$SONGSPACE_DASK_SCHEDULER``.
    retry_failed : bool  rerun configurations whose part records an error (default True).

    Returns
    -------
    pd.DataFrame, one row per configuration in ``configs`` order: every setting, every metric,
    ``run_name``, ``config_hash``, ``status``, ``error``, ``elapsed_s``.
    """
    out_csv = Path(out_csv)
    parts_dir = Path(f"{out_csv}.parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    for folder in (parts_dir, out_csv.parent):
        remove_stale_temps(folder)
    hashes = [_hash_of(c) for c in configs]
    dup = {h for h in hashes if hashes.count(h) > 1}
    if dup:
        raise ValueError(f"run_sweep: {len(dup)} configurations appear more than once (hashes {sorted(dup)[:3]})")

    todo = []
    for cfg, h in zip(configs, hashes):
        part = _read_part(parts_dir / f"{h}.json")
        if part is None or (retry_failed and part.get("status") != "ok"):
            todo.append(cfg)
    log.info("sweep %s: %d configurations, %d already done, %d to run", out_csv.name, len(configs),
             len(configs) - len(todo), len(todo))
    for _ in map_ordered(_Job(run_one, parts_dir), todo, n_jobs=n_jobs, scheduler=scheduler, desc="configs", unit="config"):
        pass  # each worker writes its own part as soon as its configuration finishes

    rows = [_read_part(parts_dir / f"{h}.json") for h in hashes]
    lost = [h for h, r in zip(hashes, rows) if r is None]
    if lost:
        raise RuntimeError(f"run_sweep: parts missing after the run for {len(lost)} configurations in {parts_dir}")
    df = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run_name", "status", "model", "error"])
    failed = df.loc[df["status"] != "ok", "run_name"].tolist()
    if failed:
        log.warning("sweep %s: %d configuration(s) failed: %s", out_csv.name, len(failed), ", ".join(map(str, failed[:5])))
    front = [c for c in ("run_name", "status") if c in df.columns]
    df = df[front + [c for c in df.columns if c not in front]]
    atomic_to_csv(df, out_csv)
    return df


def status_line(df: pd.DataFrame) -> str:
    """One line: how many configurations ran ok and how many failed."""
    if df.empty:
        return "no configurations to run"
    n_ok = int((df["status"] == "ok").sum())
    return f"{n_ok}/{len(df)} configurations ok, {len(df) - n_ok} failed"


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
        from songspace.data.loading import read_tracks

        tracks = read_tracks(self.interim_dir, self.processed_dir)
        blocks = inputs.load_blocks(tracks, self.processed_dir, self.lyrics_backend, self.audio_backend)
        model_cfg = {k: cfg[k] for k in self.MODEL_KEYS if k in cfg}
        train_kw = {k: cfg[k] for k in self.TRAIN_KEYS if k in cfg}
        if cfg["model"] == "conv_vae":
            index = runs.train_runs(self.conv_runs(cfg), threads=1)
            songs = np.unique(inputs.latents(index["run_dir"].iloc[0])[1])
        else:
            name = f"sweep-{cfg['run_name']}"
            spec = {name: {"kind": "mlp_vae", "input": "hybrid", "beta": cfg.get("beta", 1.0)}}
            index = runs.train_family(blocks, tracks, model_cfg.pop("latent_dim", 8), train_kw, self.seeds,
                                      self.runs_root, specs=spec, hidden=model_cfg.get("hidden", (128, 64)),
                                      threads=1, budget=self.budget)
            songs = blocks.track_ids
        index["model"] = "run"
        long = compare.score(compare.representations(index, blocks), {}, tracks, self.columns, songs, n_perm=self.n_perm)
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
        from songspace.features.saved import backend_path
        from songspace.training.store import TRAIN_VERSION

        processed = Path(self.processed_dir)
        files = [Path(self.interim_dir) / "tracks.parquet", processed / "windows.parquet",
                 processed / "descriptors_tracks.parquet", backend_path(processed, self.audio_backend),
                 processed / f"lyrics_{self.lyrics_backend}.npy"]
        budget = {"budget": self.budget} if self.budget is not None else {}  # absent: hashes of older sweeps hold
        return {"seeds": self.seeds, "columns": self.columns, "n_perm": self.n_perm, "lyrics": self.lyrics_backend,
                "audio": self.audio_backend, **budget,
                "train_version": TRAIN_VERSION, "data": {f.name: file_hash(f) for f in files if f.exists()}}


def sweep_configs(name_or_specs, context: dict | None = None, training: dict | None = None) -> list[dict]:
    """Configurations of a named sweep (``config.SWEEPS``) or of a list of grid specs; duplicates removed.

    ``training`` maps a model (``"mlp_vae"``, ``"conv_vae"``) to the profile's training settings
    (``mlp_train``, ``conv_train``): a grid spec trains with them wherever it does not set a
    ``SweepJob.TRAIN_KEYS`` entry itself, so a sweep never carries a stale copy of the profile.
    ``context`` (e.g. ``SweepJob.context()``) is folded into each ``config_hash``, so results saved
    under another dataset, seed list or code version are never reused.
    """
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
