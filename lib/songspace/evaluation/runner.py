"""The resumable sweep runner: a grid of settings expanded into configurations, each run once, its
result kept as a part on disk.

``grid`` expands a spec (lists are swept) into configurations with a readable ``run_name`` and a
``config_hash``. ``run_sweep`` runs them: each finished one writes one JSON part (atomically) to
``<out_csv>.parts/<config_hash>.json``; the CSV is rebuilt from the parts at the end. Re-running the same
sweep skips every configuration whose part is final (``ok``, or ``pruned`` by ``sweep.prune_sweep``) and
retries the failed and the missing ones. Nothing here knows about models: ``sweep`` supplies the job.
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

from songspace.cache import atomic_to_csv, atomic_write_text, params_hash, remove_stale_temps
from songspace.parallel import map_ordered

RESERVED = ("run_name", "config_hash", "status", "error", "elapsed_s")
FINAL = ("ok", "pruned")  # a part with this status is never rerun (a pruned configuration stays pruned)
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


def config_hash(cfg: dict) -> str:
    """A configuration's identity: its ``config_hash``, else the hash of its settings."""
    return cfg.get("config_hash") or params_hash({k: v for k, v in cfg.items() if k not in RESERVED})


def parts_dir(out_csv) -> Path:
    """Where a sweep keeps one JSON part per configuration: ``<out_csv>.parts/``."""
    return Path(f"{out_csv}.parts")


def record(cfg: dict, out_csv, status: str, **fields) -> dict:
    """Write a configuration's final part without running it (``sweep.prune_sweep``: ``"pruned"``)."""
    h = config_hash(cfg)
    row = {**{k: _jsonable(v) for k, v in cfg.items()}, "config_hash": h, "status": status, "error": None,
           "elapsed_s": 0.0, **{k: _jsonable(v) for k, v in fields.items()}}
    atomic_write_text(parts_dir(out_csv) / f"{h}.json", json.dumps(row, default=str, allow_nan=True))
    return row


def _run_and_record(cfg: dict, run_one: Callable[[dict], dict], folder: Path) -> dict:
    """Run one configuration and write its part; an Exception becomes a failed row, not a crash."""
    h = config_hash(cfg)
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
    atomic_write_text(folder / f"{h}.json", json.dumps(row, default=str, allow_nan=True))
    return row


def read_part(path: Path) -> dict | None:
    """A configuration's saved part (its row), or None when there is none or it cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # unreadable part: rerun that configuration
        return None


class _Job:
    """Picklable closure for the workers."""

    def __init__(self, run_one, folder):
        self.run_one, self.folder = run_one, folder

    def __call__(self, cfg):
        return _run_and_record(cfg, self.run_one, self.folder)


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
    parts = parts_dir(out_csv)
    parts.mkdir(parents=True, exist_ok=True)
    for folder in (parts, out_csv.parent):
        remove_stale_temps(folder)
    hashes = [config_hash(c) for c in configs]
    dup = {h for h in hashes if hashes.count(h) > 1}
    if dup:
        raise ValueError(f"run_sweep: {len(dup)} configurations appear more than once (hashes {sorted(dup)[:3]})")

    todo = []
    for cfg, h in zip(configs, hashes):
        part = read_part(parts / f"{h}.json")
        if part is None or (retry_failed and part.get("status") not in FINAL):
            todo.append(cfg)
    log.info("sweep %s: %d configurations, %d already done, %d to run", out_csv.name, len(configs),
             len(configs) - len(todo), len(todo))
    for _ in map_ordered(_Job(run_one, parts), todo, n_jobs=n_jobs, scheduler=scheduler, desc="configs", unit="config"):
        pass  # each worker writes its own part as soon as its configuration finishes

    rows = [read_part(parts / f"{h}.json") for h in hashes]
    lost = [h for h, r in zip(hashes, rows) if r is None]
    if lost:
        raise RuntimeError(f"run_sweep: parts missing after the run for {len(lost)} configurations in {parts}")
    df = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run_name", "status", "model", "error"])
    failed = df.loc[~df["status"].isin(FINAL), "run_name"].tolist()  # a pruned configuration did not fail
    if failed:
        log.warning("sweep %s: %d configuration(s) failed: %s", out_csv.name, len(failed), ", ".join(map(str, failed[:5])))
    front = [c for c in ("run_name", "status") if c in df.columns]
    df = df[front + [c for c in df.columns if c not in front]]
    atomic_to_csv(df, out_csv)
    return df


def status_line(df: pd.DataFrame) -> str:
    """One line: how many configurations ran ok, were stopped early by the pruner, and failed."""
    if df.empty:
        return "no configurations to run"
    n_ok, n_pruned = int((df["status"] == "ok").sum()), int((df["status"] == "pruned").sum())
    pruned = f", {n_pruned} stopped early (pruned)" if n_pruned else ""
    return f"{n_ok}/{len(df)} configurations ok{pruned}, {len(df) - n_ok - n_pruned} failed"


