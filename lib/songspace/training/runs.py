"""Which models 02 and 03 train, over which seeds, on which view of the data: one ``RunSpec`` per run.

A ``RunSpec`` says everything one run needs (model kind and configuration, a ``TrainConfig`` holding
its seed and beta, the input view); ``train_run`` turns it into a run folder through ``store.run``,
in this process or in a worker; ``train_family`` and ``train_conv`` build the specs of 02 and 03 and
return an index of runs (``INDEX_COLUMNS``), the table later notebooks read.

The by-song split of a run is computed once, where its input view is built (``inputs.*_inputs``:
scaling statistics come from its training songs), and handed to the training loop as a mask.
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from songspace.cache import atomic_to_csv
from songspace.config import MLP_FAMILY
from songspace.training import inputs
from songspace.training.budget import Budget, song_training, window_training

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from songspace.training.loop import TrainConfig

# The input views a run can train on: song-level blocks (``hybrid``, ``multimodal``, ``lyrics``),
# every window's audio vector (``audio_windows``), every window's log-mel patch (``logmel``, the ConvVAE).
VIEWS = ("hybrid", "multimodal", "lyrics", "audio_windows", "logmel")

INDEX_COLUMNS = ["model", "kind", "seed", "run_dir", "condition_column", "best_epoch", "cached", "budget_note"]


@dataclass
class RunSpec:
    """One training run: what is trained (``kind``, ``model_cfg``), how (``train``: seed and beta
    included), on which view of the data (``view``, one of ``VIEWS``), and where it is saved.

    ``blocks`` (song-level views, and the audio backend of ``audio_windows``) and ``processed_dir``
    (window views) are the data; ``cond`` the CVAE's condition per song. The run folder is
    ``runs_root/<model>-s<seed>-<hash>``; ``budget_note`` says what the budget changed, if anything.
    """

    model: str
    kind: str
    model_cfg: dict
    train: TrainConfig
    view: str
    runs_root: str
    blocks: inputs.Blocks | None = field(default=None, repr=False)
    processed_dir: str | None = None
    cond: np.ndarray | None = field(default=None, repr=False)
    condition_column: str | None = None
    budget_note: str = ""

    def __post_init__(self):
        if self.view not in VIEWS:
            raise ValueError(f"unknown input view {self.view!r}; expected one of {VIEWS}")

    @property
    def seed(self) -> int:
        return self.train.seed

    @property
    def name(self) -> str:
        """Readable prefix of the run id."""
        return f"{self.model}-s{self.seed}"


def train_config(train_kw: dict, seed: int, beta: float) -> TrainConfig:
    """The ``TrainConfig`` of one run: the profile's settings, the run's seed and beta, no progress bar."""
    from songspace.training.loop import (
        TrainConfig,  # here, not at the top: reading a runs index needs no torch
    )

    return TrainConfig(**{**train_kw, "seed": seed, "beta": beta, "progress": False})


def view_inputs(spec: RunSpec) -> tuple[object, np.ndarray, np.ndarray, dict]:
    """The data of a run's view, scaled with statistics of its own training songs.

    Returns
    -------
    (X, track_ids, train_mask, model_cfg): the rows, their songs, the by-song split the scaling used
    (the one the training loop must use), and the model configuration completed with the input size
    when only the data knows it.
    """
    vf, seed, cfg = spec.train.val_fraction, spec.seed, dict(spec.model_cfg)
    if spec.view == "logmel" and cfg.get("encoder", "conv") != "conv":  # musicnn features in, patches out
        out = inputs.transfer_inputs(spec.processed_dir, cfg["encoder"], bool(cfg.get("with_tags", False)), vf, seed)
        cfg = {"input_shape": list(out["X"]["logmel"].shape[1:]), "input_dim": int(out["X"]["features"].shape[1]),
               **cfg}
    elif spec.view == "logmel":  # memory-mapped patches, opened here instead of pickled to the worker
        out = inputs.conv_inputs(spec.processed_dir, val_fraction=vf, seed=seed)
        cfg = {"input_shape": list(out["X"].shape[1:]), **cfg}
    elif spec.view == "audio_windows":
        out = inputs.window_inputs(spec.processed_dir, spec.blocks.audio_backend, vf, seed)
        cfg["input_dim"] = int(out["X"].shape[1])
    elif spec.view == "lyrics":
        out = inputs.lyrics_inputs(spec.blocks, vf, seed)
    else:  # hybrid or multimodal: every song
        views = inputs.model_inputs(spec.blocks, val_fraction=vf, seed=seed)
        out = {"X": views[spec.view], "track_ids": spec.blocks.track_ids, "train_mask": views["train_mask"]}
    return out["X"], out["track_ids"], out["train_mask"], cfg


def train_run(spec: RunSpec, threads: int = 1, keep_going: bool = False, callbacks=()) -> dict:
    """Train (or load) one run and return its index row; module-level so joblib/Dask can pickle it.

    ``threads``: torch threads (small models: one per worker beats two fighting). ``keep_going``: a
    failure becomes a row with ``error`` instead of an exception (``train_sweep_runs``). ``callbacks``:
    passed to ``fit`` (the sweep's pruner); a finished run is loaded and calls none.
    """
    if keep_going:
        try:
            return train_run(spec, threads, callbacks=callbacks)
        except Exception as e:  # noqa: BLE001 - reported by the caller, retried by the sweep
            return {"model": spec.model, "seed": spec.seed, "error": f"{type(e).__name__}: {e}"}
    import torch

    from songspace.training.store import run

    torch.set_num_threads(threads)
    X, ids, train_mask, model_cfg = view_inputs(spec)
    res = run(spec.kind, model_cfg, X, ids, spec.train, spec.runs_root, cond=spec.cond, name=spec.name,
              train_mask=train_mask, callbacks=callbacks)
    return {"model": spec.model, "kind": spec.kind, "seed": spec.seed, "run_dir": str(res.run_dir),
            "condition_column": spec.condition_column, "best_epoch": res.best_epoch, "cached": res.cached,
            "budget_note": spec.budget_note}


def train_runs(specs: list[RunSpec], n_jobs: int = 1, scheduler: str | None = None, threads: int | None = None,
               keep_going: bool = False) -> pd.DataFrame:
    """Every spec's run, in parallel on local processes or a Dask cluster; one index row per run.

    ``threads`` (default: the cores when everything runs in this process, else 1 per worker).
    """
    from songspace.parallel import map_ordered

    if not specs:
        return pd.DataFrame(columns=INDEX_COLUMNS)
    if threads is None:
        threads = (os.cpu_count() or 1) if n_jobs == 1 and not scheduler else 1
    fn = functools.partial(train_run, threads=threads, keep_going=keep_going)
    return pd.DataFrame(list(map_ordered(fn, specs, n_jobs=n_jobs, scheduler=scheduler, desc="runs", unit="run")))


def family(plan, cvae_condition: str | None = "language", models=None) -> tuple[dict, dict]:
    """The vector models of ``MLP_FAMILY`` that this collection can train, and why the others cannot.

    Parameters
    ----------
    plan : ``songspace.data.plan.Plan`` of the collection.
    cvae_condition : label column the CVAE is conditioned on (``cvae_<column>`` in the tables).
    models : names to keep (None: all).

    Returns
    -------
    specs : dict name -> spec, ready for ``train_family``.
    skipped : dict name -> the reason, one sentence.
    """
    specs, skipped = {}, {}
    for name, spec in MLP_FAMILY.items():
        if models is not None and name not in models:
            continue
        need = {"cvae": "cvae", "multimodal_vae": "multimodal_vae"}.get(spec["kind"], "models")
        need = {"audio_windows": "audio", "lyrics": "lyrics"}.get(spec["input"], need)
        if not plan.runs(need) or not plan.runs("models"):
            skipped[name] = plan.skipped.get("models") or plan.skipped[need]
            continue
        if spec["input"] == "lyrics" and not plan.has_audio:
            skipped[name] = "the collection has no audio, so mlp_vae already sees the lyrics alone"
            continue
        if spec["kind"] == "cvae":
            specs[f"cvae_{cvae_condition}"] = {**spec, "condition_column": cvae_condition}
        else:
            specs[name] = spec
    return specs, skipped


def default_k(tracks: pd.DataFrame, labels=None) -> int:
    """Clusters to ask for when a model must fix them before training (VaDE): the number of classes of
    the first label column (what K-Means gets when scored against it), else round(sqrt(n / 2)) in [2, 10]."""
    from songspace.data.plan import label_columns

    cols = label_columns(tracks, labels)
    if cols:
        return max(2, int(tracks[cols[0]].dropna().astype(str).nunique()))
    return int(np.clip(round(np.sqrt(len(tracks) / 2)), 2, 10))


def family_runs(blocks: inputs.Blocks, tracks: pd.DataFrame, latent_dim: int, train_kw: dict, seeds, runs_root,
                 specs: dict | None = None, hidden=(128, 64), processed_dir=None, n_clusters: int | None = None,
                 budget: dict | None = None) -> list[RunSpec]:
    """The runs of ``train_family``: one ``RunSpec`` per (model of ``specs``, seed)."""
    if specs is None:  # the whole family; window-level models only when there is a features folder
        specs = {k: v for k, v in MLP_FAMILY.items() if v["input"] != "audio_windows" or processed_dir}
    ids = tracks["track_id"].astype(str).to_numpy()
    if not np.array_equal(ids, blocks.track_ids):
        raise ValueError("train_family: blocks and tracks are not in the same song order")
    limits = Budget(**budget) if budget is not None else None
    widths = {k: B.shape[1] for k, B in inputs.present_blocks(blocks).items()}
    out = []
    for name, spec in specs.items():
        note, cond, cond_col, kw = None, None, spec.get("condition_column"), dict(train_kw)
        kw.update({k: spec[k] for k in ("neighbour_weight", "neighbours") if k in spec})
        if spec["input"] == "multimodal":
            cfg = {"audio_dim": widths["audio"], "lyrics_dim": widths["lyrics"]}
        elif spec["input"] == "lyrics":
            cfg = {"input_dim": widths["lyrics"]}
        elif spec["input"] == "audio_windows":  # input_dim is set from the window table (view_inputs)
            cfg = {"input_dim": widths["audio"]}
            # ~20-100 windows per song: a fifth of the epochs sees as many samples as the song models
            share = spec.get("epochs_share", 1.0)
            kw.update({k: max(1, int(round(share * kw[k]))) for k in ("epochs", "warmup_epochs", "patience") if k in kw})
            kw["batch_size"] = spec.get("batch_size", kw.get("batch_size", 64))
            if limits is not None:
                kw, note = window_training(kw, *inputs.window_counts(processed_dir, blocks.audio_backend), limits)
        else:
            cfg = {"input_dim": sum(widths.values())}
        if limits is not None and spec["input"] != "audio_windows":  # one row per song: only epochs can go
            n_rows = int(blocks.mask_lyrics.sum()) if spec["input"] == "lyrics" else len(ids)
            kw, note = song_training(kw, n_rows, limits)
        cfg.update(latent_dim=latent_dim, hidden=list(hidden))
        if spec["kind"] == "vade":
            cfg["n_clusters"] = int(n_clusters or default_k(tracks))
            kw["pretrain_epochs"] = max(1, int(spec.get("pretrain_share", 0.2) * kw.get("epochs", 100)))
        if cond_col:
            classes = sorted(tracks[cond_col].dropna().astype(str).unique())
            cfg.update(n_classes=len(classes), classes=classes, condition_column=cond_col)
            cond = tracks[cond_col].astype(object).where(tracks[cond_col].notna(), None).to_numpy()
        out += [RunSpec(name, spec["kind"], cfg, train_config(kw, int(seed), spec["beta"]), spec["input"],
                        str(runs_root), blocks=blocks, processed_dir=str(processed_dir) if processed_dir else None,
                        cond=cond, condition_column=cond_col, budget_note=note or "") for seed in seeds]
    return out


def train_family(blocks: inputs.Blocks, tracks: pd.DataFrame, latent_dim: int, train_kw: dict, seeds, runs_root,
                 specs: dict | None = None, hidden=(128, 64), n_jobs: int = 1, scheduler: str | None = None,
                 threads: int | None = None, processed_dir=None, n_clusters: int | None = None,
                 budget: dict | None = None) -> pd.DataFrame:
    """Train every vector model of ``specs`` once per seed (finished runs are loaded, not retrained).

    Each run standardises the blocks with statistics of its own training songs (the by-song split of
    its seed), so no validation song ever shapes its inputs.

    Parameters
    ----------
    blocks : from ``inputs.load_blocks``, in the row order of ``tracks``.
    tracks : tracks table (for CVAE conditions).
    latent_dim : int
    train_kw : dict of ``TrainConfig`` fields (epochs, lr, ...).
    seeds : iterable of int
    runs_root : folder of run folders.
    n_jobs, scheduler : runs in parallel on local processes or a Dask cluster (``parallel.map_ordered``).
    processed_dir : features folder, for window-level models (``input`` ``audio_windows``).
    n_clusters : mixture components of a ``vade`` spec (default: ``default_k(tracks)``).
    budget : ``budget.Budget`` fields (the profile's ``budget``): window-level runs are thinned by windows per
        song, song-level runs by epochs, when over it; None: as configured.

    Returns
    -------
    DataFrame, one row per (model, seed): ``INDEX_COLUMNS`` (``budget_note``: what the budget changed, or empty).
    """
    run_specs = family_runs(blocks, tracks, latent_dim, train_kw, seeds, runs_root, specs, hidden, processed_dir,
                        n_clusters, budget)
    return train_runs(run_specs, n_jobs, scheduler, threads)


def conv_runs(processed_dir, model_cfg: dict, train_kw: dict, seeds, runs_root, name: str = "conv_vae",
               beta: float = 1.0, kind: str = "conv_vae", budget: dict | None = None, extra_runs=()) -> list[RunSpec]:
    """The runs of :func:`train_conv`, one ``RunSpec`` per (name, seed), on the ``logmel`` view.

    A ``TransferConvVAE`` (``model_cfg["encoder"]`` a musicnn backend) has one row per musicnn patch, so
    the budget counts those; the seed's ConvVAE one per log-mel window."""
    note, encoder = None, model_cfg.get("encoder", "conv")
    if encoder == "conv" and train_kw.get("neighbour_weight"):
        # the seed's encoder reads log-mel patches only: there are no song vectors to find neighbours by
        logger.info("%s: the seed's conv encoder trains without neighbour consistency (neighbour_weight %g ignored)",
                    name, train_kw["neighbour_weight"])
        train_kw = {**train_kw, "neighbour_weight": 0.0}
    if budget is not None:
        counts = inputs.window_counts(processed_dir, *([] if encoder == "conv" else [encoder]))
        train_kw, note = window_training(train_kw, *counts, Budget(**budget))
    return [RunSpec(run_name, kind, dict(model_cfg), train_config(train_kw, int(seed), run_beta), "logmel",
                    str(runs_root), processed_dir=str(processed_dir), budget_note=note or "")
            for run_name, run_beta, run_seeds in [(name, beta, seeds), *extra_runs] for seed in run_seeds]


def train_conv(processed_dir, model_cfg: dict, train_kw: dict, seeds, runs_root, name: str = "conv_vae",
               beta: float = 1.0, kind: str = "conv_vae", n_jobs: int = 1, scheduler: str | None = None,
               threads: int | None = None, budget: dict | None = None, extra_runs=()) -> pd.DataFrame:
    """Train a ConvVAE on the log-mel patches of ``processed_dir`` once per seed; same index as ``train_family``.

    ``budget`` (``budget.Budget`` fields): thin the windows per epoch on a large collection
    (``budget.window_training``); the index's ``budget_note`` says what changed. ``extra_runs``:
    ``(name, beta, seeds)`` of more runs of the same model (03's β-VAE), queued with these so that no
    worker idles while another trains the last one.
    """
    run_specs = conv_runs(processed_dir, model_cfg, train_kw, seeds, runs_root, name, beta, kind, budget, extra_runs)
    return train_runs(run_specs, n_jobs, scheduler, threads)


def write_index(df: pd.DataFrame, path) -> Path:
    """Save a runs index (the artifact later notebooks read); an empty one keeps its columns."""
    return atomic_to_csv(df if len(df.columns) else pd.DataFrame(columns=INDEX_COLUMNS), path)


def read_index(*paths) -> pd.DataFrame:
    """The runs indexes written by 02/03, concatenated (missing or empty files contribute nothing)."""
    frames = [pd.read_csv(p) for p in paths if Path(p).exists()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=INDEX_COLUMNS)


def describe_inputs(what, blocks: inputs.Blocks, seeds, skipped: dict) -> str:
    """Markdown: the collection, the input blocks 02's models see, the seeds, and the models left out and why."""
    width = sum(b.shape[1] for b in inputs.present_blocks(blocks).values())
    return (f"{what.describe()} Input: {blocks.audio.shape[1]}-d audio ({blocks.audio_backend}), "
            f"{blocks.lyrics.shape[1]}-d lyrics ({blocks.lyrics_backend}); {width} dims in all; seeds {seeds}.\n\n"
            + "\n".join(f"- Skipped {name}: {why}." for name, why in skipped.items()))


def first_run(index: pd.DataFrame, model: str | None = None) -> Path | None:
    """Run folder of the first run of ``model`` in a runs index (of any model when None), or None."""
    rows = index if model is None else index[index["model"] == model]
    return Path(rows["run_dir"].iloc[0]) if len(rows) else None


def histories(index: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Training history (``history.csv``) of each model's first run in ``index``, by model name."""
    return {name: pd.read_csv(first_run(g) / "history.csv") for name, g in index.groupby("model", sort=False)}


def usage(index: pd.DataFrame) -> pd.DataFrame:
    """Active latent units, best epoch and epochs run per model (mean and std over its runs' ``done.json``)."""
    import json

    done = pd.DataFrame([{"model": r.model, **json.loads((Path(r.run_dir) / "done.json").read_text())}
                         for r in index.itertuples()])
    return done.groupby("model")[["active_units", "best_epoch", "epochs_run"]].agg(["mean", "std"]).round(2)
