"""Runs on disk: train once, load ever after (the model I/O of the pipeline).

``run`` wraps ``loop.fit`` with a run folder ``runs_root/<name>-<hash>/`` holding config.json,
checkpoint.pt, history.csv, latents.npz, reconstructions.npz, optionally pretrain_history.csv and
tb/ (TensorBoard events) and, written last, done.json; a finished run is loaded, not retrained.
The hash covers everything that shapes the result (``run_key``), so any change makes a new run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from songspace.cache import (
    atomic_save_npz,
    atomic_to_csv,
    atomic_write_bytes,
    atomic_write_text,
    library_versions,
    params_hash,
    remove_stale_temps,
)
from songspace.models.base import BaseVAE
from songspace.models.registry import build_model
from songspace.training.batches import RowBatches, n_rows, to_device
from songspace.training.callbacks import Callback, TensorBoardLogger
from songspace.training.inference import condition, encode_condition
from songspace.training.loop import RunResult, TrainConfig, fit, seed_everything
from songspace.training.split import split_by_song

logger = logging.getLogger("songspace")

# Part of every run id: bump when a change to models or training makes old runs stale.
TRAIN_VERSION = 2
TRAINING_LIBRARIES = ("torch", "numpy", "scikit-learn")  # what a run's numbers depend on besides its settings

# TrainConfig fields that do not change what is learned, so they are not part of the run id.
_NOT_IN_RUN_ID = ("progress", "num_workers", "device", "tensorboard")
# Fields added after runs existed: left out of the run id at these defaults, so old run ids stay valid.
_RUN_ID_OMITTED_DEFAULTS = {"pretrain_epochs": 0, "windows_per_song": 0, "neighbour_weight": 0.0}
# Fields that only act through pretraining: left out of the run id when there is none (pretrain_epochs 0).
_PRETRAIN_ONLY = ("gmm_n_init", "pretrain_restarts")
# ... and one that only acts through the neighbour-consistency term (neighbour_weight 0: none).
_NEIGHBOUR_ONLY = ("neighbours",)


def data_fingerprint(X, track_ids, cond=None, chunk_rows: int = 4096) -> str:
    """SHA-256 (16 hex) of the data's bytes, shapes, track ids and condition; reads memmaps in chunks."""
    h = hashlib.sha256()
    arrays = X if isinstance(X, dict) else {"X": X}
    for k in sorted(arrays):
        A = arrays[k]
        h.update(f"{k}{A.shape}{A.dtype}".encode())
        for i in range(0, A.shape[0], chunk_rows):
            h.update(np.ascontiguousarray(A[i:i + chunk_rows]).tobytes())
    h.update("\0".join(map(str, track_ids)).encode())
    if cond is not None:
        h.update("\0".join(map(str, np.asarray(cond).reshape(len(cond), -1).tolist())).encode())
    return h.hexdigest()[:16]

def run_key(kind: str, model_cfg: dict, train_cfg: TrainConfig, data_fp: str) -> dict:
    """What a run id hashes: kind, model config, the result-changing training parameters, data, code version."""
    pretrains = bool(train_cfg.pretrain_epochs)
    tcfg = {k: v for k, v in dataclasses.asdict(train_cfg).items()
            if k not in _NOT_IN_RUN_ID and not (k in _RUN_ID_OMITTED_DEFAULTS and v == _RUN_ID_OMITTED_DEFAULTS[k])
            and not (k in _PRETRAIN_ONLY and not pretrains)
            and not (k in _NEIGHBOUR_ONLY and not train_cfg.neighbour_weight)}
    return {'kind': kind, 'model': model_cfg, 'train': tcfg, 'data': data_fp, 'code': TRAIN_VERSION,
            'libs': library_versions(*TRAINING_LIBRARIES)}

def run(kind: str, model_cfg: dict, X, track_ids, train_cfg: TrainConfig, runs_root, cond=None,
        name: str | None = None, force: bool = False, callbacks: Sequence[Callback] = (), train_mask=None) -> RunResult:
    """Train (or load, if already finished) one run saved under ``runs_root/<run-id>/``.

    run-id = ``<name or kind>-<params_hash(model cfg, train cfg, data fingerprint)>``, so a change of
    any parameter or of the data makes a new run. Files: config.json, checkpoint.pt, history.csv,
    latents.npz (``mu`` (n_rows, latent_dim), ``track_ids``; plus ``mu_audio``/``mu_lyrics`` for
    the multimodal VAE, ``cluster`` (n_rows,) int and ``cluster_proba`` (n_rows, K) for ``vade``),
    reconstructions.npz (a few validation rows in/out), pretrain_history.csv (when
    ``pretrain_epochs`` > 0), tb/ (when ``tensorboard``), done.json (last). A finished run is
    loaded as it is: asking for ``tensorboard`` afterwards writes nothing unless ``force``. So is a
    finished run of the same hash under another name (a sweep point that repeats a run of 02): the
    result's ``run_dir`` is then that run's folder.

    Parameters
    ----------
    kind, model_cfg : passed to ``build_model``
    X, track_ids, cond : as in ``fit``
    train_cfg : TrainConfig
    runs_root : path, e.g. ``results/runs``
    name : readable prefix of the run id (default ``kind``)
    force : retrain even if a finished run exists
    callbacks : passed to ``fit`` (after the TensorBoard logger, if any)
    train_mask : the by-song split the inputs were scaled with, passed to ``fit`` (default: made there);
        it must be ``split_by_song(track_ids, val_fraction, seed)``'s, the split the run id stands for
    """
    track_ids = np.asarray(track_ids).astype(str)
    if train_mask is not None and not np.array_equal(train_mask, split_by_song(track_ids, train_cfg.val_fraction,
                                                                                 train_cfg.seed)[0]):
        # the run id does not hash the split: another split would load a run trained on this one
        raise ValueError(f"{name or kind}: train_mask is not the split of val_fraction {train_cfg.val_fraction} "
                         f"and seed {train_cfg.seed} (split.split_by_song), which the run id stands for")
    tcfg = dataclasses.asdict(train_cfg)
    fp = data_fingerprint(X, track_ids, cond)
    key = params_hash(run_key(kind, model_cfg, train_cfg, fp))
    run_id = f"{name or kind}-{key}"
    run_dir = Path(runs_root) / run_id
    if not force and not (run_dir / "done.json").exists():
        # the same model, training and data finished under another name (a sweep point equal to 02's run):
        # the id holds everything that shapes the result, so that run is this one
        twin = next((p.parent for p in sorted(Path(runs_root).glob(f"*-{key}/done.json"))), None)
        if twin is not None:
            logger.info("%s: loading %s, a finished run of the same configuration and data", run_id, twin.name)
            run_dir = twin
    if (run_dir / "done.json").exists() and not force:
        if train_cfg.tensorboard and not (run_dir / "tb").is_dir():
            logger.info("%s is finished and has no TensorBoard events; force=True retrains it with them", run_dir.name)
        return load_run(run_dir)
    (run_dir / "done.json").unlink(missing_ok=True)
    remove_stale_temps(run_dir)  # an interrupted attempt's half-written files
    shutil.rmtree(run_dir / "tb", ignore_errors=True)  # events of an earlier attempt would mix with these
    seed_everything(train_cfg.seed)  # weights are initialised from the run's seed
    model = build_model(kind, **model_cfg)
    config = {"run_id": run_id, "kind": kind, "model_config": model.config, "train_config": tcfg,
              "data": {"fingerprint": fp, "n_rows": n_rows(X), "n_songs": int(len(np.unique(track_ids)))}}
    atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2, default=str))
    t0 = time.perf_counter()
    tb = TensorBoardLogger(run_dir / "tb") if train_cfg.tensorboard else None
    try:
        res = fit(model, X, train_cfg, track_ids, cond=cond, run_dir=run_dir,
                  callbacks=([tb] if tb else []) + list(callbacks), train_mask=train_mask)
    finally:
        if tb is not None:
            tb.close()
    device = next(model.parameters()).device
    save_checkpoint(model, run_dir / "checkpoint.pt")  # history.csv: fit wrote its final version
    if len(res.pretrain_history):
        atomic_to_csv(res.pretrain_history, run_dir / "pretrain_history.csv")
    atomic_save_npz(run_dir / "latents.npz", mu=res.latents, track_ids=track_ids, **res.extra_latents)
    val = res.val_mask
    rows = np.flatnonzero(val if val.any() else ~val)[: train_cfg.n_recon_examples]
    c = encode_condition(model, cond, len(track_ids))
    atomic_save_npz(run_dir / "reconstructions.npz", track_ids=track_ids[rows], rows=rows,
                    **_reconstructions(model, X, c, rows, device))
    best = res.history.loc[res.history["best"]].iloc[0]
    done = {"run_id": run_id, "best_epoch": res.best_epoch, "epochs_run": len(res.history),
            "best_val_elbo_loss": float(best["val_elbo_loss"]), "active_units": int(best["active_units"]),
            "seconds": time.perf_counter() - t0}
    atomic_write_text(run_dir / "done.json", json.dumps(done, indent=2))
    res.run_dir, res.config = run_dir, config
    return res

def load_run(run_dir) -> RunResult:
    """Load a finished run folder (``done.json`` present) without retraining."""
    run_dir = Path(run_dir)
    if not (run_dir / "done.json").exists():
        raise FileNotFoundError(f"{run_dir}: no done.json, the run did not finish")
    config = json.loads((run_dir / "config.json").read_text())
    done = json.loads((run_dir / "done.json").read_text())
    model = load_checkpoint(run_dir / "checkpoint.pt")
    with np.load(run_dir / "latents.npz", allow_pickle=False) as z:
        latents, ids = z["mu"], z["track_ids"]
        extra = {k: z[k] for k in z.files if k not in ("mu", "track_ids")}
    pre = run_dir / "pretrain_history.csv"
    return RunResult(model=model, history=pd.read_csv(run_dir / "history.csv"), latents=latents, track_ids=ids,
                     best_epoch=int(done["best_epoch"]), best_state=model.state_dict(), run_dir=run_dir,
                     cached=True, config=config, extra_latents=extra,
                     pretrain_history=pd.read_csv(pre) if pre.exists() else pd.DataFrame())

def save_checkpoint(model: BaseVAE, path) -> Path:
    """state_dict + model config, written atomically."""
    buf = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "model_config": model.config}, buf)
    return atomic_write_bytes(path, buf.getvalue())

def load_checkpoint(path, device="cpu") -> BaseVAE:
    """Rebuild a model from ``checkpoint.pt`` (architecture from its config, then the weights)."""
    ck = torch.load(path, map_location=device, weights_only=True)
    model = build_model(**ck["model_config"])
    model.load_state_dict(ck["state_dict"])
    return model.eval()

def _reconstructions(model, X, c, rows, device) -> dict:
    """A few validation rows in and out (decoded from the posterior mean)."""
    model.eval()
    xb, cb = RowBatches(X, rows, c)[np.arange(len(rows))]
    xb, cb = to_device(xb, device), cb.to(device)
    with torch.no_grad():
        mu = model.embed(xb, condition(cb))
        y = model.decode(mu, condition(cb))
    if isinstance(xb, dict) and isinstance(y, dict):
        out = {f"{m}_in": xb[m].cpu().numpy() for m in ("audio", "lyrics")}
        out.update({f"{m}_out": y[m].cpu().numpy() for m in ("audio", "lyrics")})
        out.update({k: xb[k].cpu().numpy() for k in ("mask_audio", "mask_lyrics") if k in xb})
        return out
    return {"x_in": model.target(xb).cpu().numpy(), "x_out": y.cpu().numpy()}
