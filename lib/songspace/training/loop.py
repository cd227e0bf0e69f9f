"""The one training loop for every model.

``fit`` trains a model in memory: optional autoencoder pretraining for models that initialise
their prior from it, KL warm-up, free bits, Adam, early stopping on a validation split made by
song, best weights restored, ``on_epoch_end`` callbacks. Run folders (train once, load after) are
``store``'s job.
"""
from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from songspace.cache import atomic_to_csv
from songspace.models.base import BaseVAE
from songspace.training.batches import make_loader, n_rows, to_device
from songspace.training.callbacks import Callback
from songspace.training.inference import (
    active_units,
    condition,
    encode_all,
    encode_condition,
    predict_clusters,
)
from songspace.training.neighbours import consistency, neighbour_table, window_neighbour_table
from songspace.training.split import split_by_song

logger = logging.getLogger("songspace")

@dataclass
class TrainConfig:
    """Training parameters (a papermill cell can build one from a dict: ``TrainConfig(**d)``).

    beta : weight of the KL term after warm-up. warmup_epochs : linear beta ramp length (0: none).
    free_bits : per-latent-dimension KL floor, nats. patience : epochs without a better validation
    ELBO before stopping (counted after warm-up). val_fraction : share of *songs* held out.
    device : "auto" (CUDA, then MPS, then CPU) or a torch device string.
    pretrain_epochs : epochs of deterministic-autoencoder training before the ELBO, after which the
    model initialises its prior from the training latents (``vade``; 0: none, the only choice for
    models without ``init_from_latents``).
    gmm_n_init : EM starts of the mixture a pretrained model initialises its prior with (the best
    likelihood on the training latents wins); used only when ``pretrain_epochs`` > 0.
    pretrain_restarts : autoencoder pretrainings from fresh weights; the one with the lowest
    reconstruction loss (validation songs, else training songs; never labels) is kept and the prior
    is initialised from it. A poor pretrained space is the other way VaDE's clusters fail, and
    the ELBO does not repair it. Used only when ``pretrain_epochs`` > 0.
    windows_per_song : 0 (every row, every epoch) or at most this many rows (windows) of each training
    song per epoch, drawn afresh each epoch from the run's seed; validation uses one fixed draw of as
    many per song, so epochs are compared on the same rows. How ``budget.window_training`` keeps the
    cost of window-level models linear in songs on large collections.
    neighbour_weight : weight of the neighbour-consistency term (``neighbours``; 0: none): each training
    row's posterior mean is pulled towards that of one of its ``neighbours`` nearest training rows in the
    input (cosine), drawn afresh each batch; rows that are windows of songs (repeated track ids) meet the same
    stretch of a neighbouring song (``neighbours.window_neighbour_table``). Row vectors (a 2-d array, or a dict
    with ``features``: the ``TransferConvVAE``) of models without a condition only; with ``pretrain_epochs``
    the autoencoder pretraining is pulled too, so the prior starts from that space.
    tensorboard : ``store.run`` also writes TensorBoard scalars to ``<run_dir>/tb/`` (needs the
    ``tensorboard`` package; not part of the run id, since it does not change results).
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    beta: float = 1.0
    warmup_epochs: int = 0
    free_bits: float = 0.0
    patience: int = 10
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    grad_clip: float | None = None  # max gradient norm (None: no clipping); losses are sums, so norms run large
    n_recon_examples: int = 8
    progress: bool = True
    pretrain_epochs: int = 0
    tensorboard: bool = False
    gmm_n_init: int = 10
    pretrain_restarts: int = 5
    windows_per_song: int = 0
    neighbour_weight: float = 0.0
    neighbours: int = 10

    @classmethod
    def tiny(cls, **overrides) -> "TrainConfig":
        """Seconds-long profile for tests and the demo."""
        base = dict(epochs=8, batch_size=32, patience=4, progress=False)
        return cls(**{**base, **overrides})


@dataclass
class RunResult:
    """What a training run produced.

    history : one row per (ELBO) epoch. pretrain_history : one row per pretraining epoch over all
    restarts, with ``restart`` and ``kept`` (empty when none). latents : (n_rows, latent_dim) posterior means of every row, in
    input order. best_state : state_dict of the best epoch (already loaded into ``model``).
    train_mask, val_mask : (n_rows,) bool, the by-song split used (None when loaded from disk).
    cached : True when loaded from a finished run folder instead of trained.
    """

    model: BaseVAE
    history: pd.DataFrame
    latents: np.ndarray
    track_ids: np.ndarray
    best_epoch: int
    best_state: dict = field(repr=False, default_factory=dict)
    run_dir: Path | None = None
    cached: bool = False
    config: dict = field(default_factory=dict)
    extra_latents: dict = field(default_factory=dict, repr=False)
    train_mask: np.ndarray | None = field(default=None, repr=False)
    val_mask: np.ndarray | None = field(default=None, repr=False)
    pretrain_history: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


# ---------------------------------------------------------------- helpers

# A running fit rewrites history.csv at most this often: rewriting it every epoch cost ~1.7 ms an epoch,
# ~0.3 s of a 1-3 s MLP VAE run of 100-300 epochs.
HISTORY_EVERY_S = 10.0


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch and ask torch for deterministic kernels (CPU runs repeat exactly)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else MPS, else CPU; anything else is passed to ``torch.device``."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _epoch(model, loader, device, beta, free_bits, opt=None, grad_clip=None, neighbour_weight=0.0):
    """One pass; returns mean loss terms and the posterior means of the pass. Batches of a
    ``NeighbourBatches`` add ``neighbour_weight`` x the neighbour-consistency term to the loss."""
    model.train(opt is not None)
    sums, n, mus = {"loss": 0.0, "recon": 0.0, "kl": 0.0}, 0, []
    with torch.set_grad_enabled(opt is not None):
        for xb, cb, *nb in loader:
            xb, cb = to_device(xb, device), cb.to(device)
            out = model(xb, condition(cb))
            parts = model.loss(xb, out, beta=beta, free_bits=free_bits)
            if nb:
                parts["consistency"] = consistency(model, out["mu"], to_device(nb[0], device))
                parts["loss"] = parts["loss"] + neighbour_weight * parts["consistency"]
                sums.setdefault("consistency", 0.0)
            if opt is not None:
                opt.zero_grad(set_to_none=True)
                parts["loss"].backward()
                if grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                opt.step()
            b = out["mu"].shape[0]
            for k in sums:
                sums[k] += float(parts[k].detach()) * b
            n += b
            mus.append(out["mu"].detach().cpu())
    return {k: v / max(n, 1) for k, v in sums.items()}, torch.cat(mus) if mus else torch.zeros(0, 1)


# ---------------------------------------------------------------- fit

def adam(model: BaseVAE, lr: float) -> torch.optim.Adam:
    """Adam over ``model``'s parameters. ``foreach=True`` (torch's multi-tensor update; its default only on
    GPU) gives the same parameters bit for bit on CPU and made an MLP VAE step ~20% faster."""
    return torch.optim.Adam(model.parameters(), lr=lr, foreach=True)


def _train_and_validate(model, tr, va, device, beta, cfg: TrainConfig, opt) -> tuple[dict, torch.Tensor]:
    """One training pass and one validation pass: the epoch's metrics and the validation posterior means."""
    t0 = time.perf_counter()
    trm, tr_mu = _epoch(model, tr, device, beta, cfg.free_bits, opt, cfg.grad_clip, cfg.neighbour_weight)
    if va is not None:
        vam, va_mu = _epoch(model, va, device, beta, cfg.free_bits)
    else:
        vam, va_mu = {k: float("nan") for k in trm}, tr_mu
    # Early stopping compares the target objective (full beta, no free bits), not the ramped loss.
    ref = vam if va is not None else trm
    logs = {"beta": beta, **{f"train_{k}": v for k, v in trm.items()}, **{f"val_{k}": v for k, v in vam.items()},
            "val_elbo_loss": ref["recon"] + cfg.beta * ref["kl"], "active_units": active_units(va_mu),
            "seconds": time.perf_counter() - t0, "lr": opt.param_groups[0]["lr"]}
    return logs, va_mu


def _notify(callbacks: Sequence, epoch: int, logs: dict, model: BaseVAE) -> None:
    for cb in callbacks:
        getattr(cb, "on_epoch_end", cb)(epoch, dict(logs), model)


def _pretrain(model, X, c, tr, va, tr_rows, cfg: TrainConfig, device, callbacks, started) -> list[dict]:
    """Train ``model`` as a deterministic autoencoder (its mean path only) for ``cfg.pretrain_epochs``,
    ``cfg.pretrain_restarts`` times from fresh weights, keep the restart with the lowest final
    reconstruction loss (validation rows, else training rows), then let the model initialise its
    prior from the latent means of the training rows (VaDE's recipe).

    Returns the per-epoch metrics (``epoch`` counted over all restarts, ``restart``, ``kept``);
    callbacks see them with ``phase="pretrain"``.
    """
    kind = model.config["kind"]
    if not hasattr(model, "init_from_latents"):
        raise ValueError(f"pretrain_epochs > 0 needs a model with init_from_latents (e.g. 'vade'), not {kind!r}")
    restarts = max(1, int(cfg.pretrain_restarts))
    rows, best, best_state, kept = [], float("inf"), None, 0
    model.autoencoder_mode = True
    try:
        for restart in range(restarts):
            if restart:  # a fresh start: new weights drawn from the run's seed and the restart number
                torch.manual_seed(cfg.seed * 1000 + restart)
                for m in model.modules():
                    if m is not model and hasattr(m, "reset_parameters"):
                        m.reset_parameters()
            opt = adam(model, cfg.lr)
            for _ in range(cfg.pretrain_epochs):
                logs, _ = _train_and_validate(model, tr, va, device, 0.0, cfg, opt)
                epoch = len(rows)  # counted over all restarts: one step axis for callbacks (TensorBoard)
                rows.append({"epoch": epoch, "restart": restart, **logs, "elapsed": time.perf_counter() - started})
                _notify(callbacks, epoch, {**rows[-1], "phase": "pretrain"}, model)
            score = rows[-1]["val_recon"] if va is not None else rows[-1]["train_recon"]
            if score < best:
                best, kept = score, restart
                if restarts > 1:
                    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
    finally:
        model.autoencoder_mode = False
    if best_state is not None:
        model.load_state_dict(best_state)
    for r in rows:
        r["kept"] = r["restart"] == kept
    # Validation rows stay out of the prior: they are what early stopping judges it on.
    model.init_from_latents(encode_all(model, X, c, device=device, rows=tr_rows), seed=cfg.seed, n_init=cfg.gmm_n_init)
    logger.info("%s: pretrained %d x %d epochs, kept restart %d (recon %.4g); prior initialised from %d training rows",
                kind, restarts, cfg.pretrain_epochs, kept, best, len(tr_rows))
    return rows


def _neighbour_table(model, X, track_ids, tr_rows, cfg: TrainConfig) -> np.ndarray:
    """The training rows' input neighbours, for ``neighbour_weight`` > 0: songs' own vectors, or for rows
    that are windows of songs (the ConvVAE's patches, whose ``features`` are the input) the windows of
    neighbouring songs. Models with a condition are refused: the pull would mix conditions."""
    feats = X.get("features") if isinstance(X, dict) else X
    if feats is None or np.ndim(feats) != 2 or model.config.get("n_classes"):
        shape = f"a dict of {sorted(X)}" if isinstance(X, dict) else f"an array of shape {np.shape(X)}"
        raise ValueError(f"neighbour_weight needs row vectors (a 2-d array, or a dict with 'features') and a model "
                         f"without a condition; got {model.config['kind']!r} on {shape}")
    if len(np.unique(track_ids)) < len(track_ids):
        return window_neighbour_table(feats, track_ids, tr_rows, cfg.neighbours)
    return neighbour_table(feats, tr_rows, cfg.neighbours)


def _split(track_ids: np.ndarray, cfg: TrainConfig, train_mask=None) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) row masks: the caller's ``train_mask`` and its complement, else ``split_by_song``."""
    if train_mask is None:
        return split_by_song(track_ids, cfg.val_fraction, cfg.seed)
    train = np.asarray(train_mask, dtype=bool)
    if train.shape != track_ids.shape:
        raise ValueError(f"train_mask has shape {train.shape}, the data has {track_ids.shape[0]} rows")
    return train, ~train


def fit(model: BaseVAE, X, cfg: TrainConfig, track_ids, cond=None, run_dir=None,
        callbacks: Sequence[Callback] = (), train_mask=None) -> RunResult:
    """Train ``model`` on rows of ``X`` with early stopping on a by-song validation split.

    Parameters
    ----------
    model : BaseVAE from ``build_model``
    X : np.ndarray or np.memmap, shape (n_rows, ...) (vectors or (n_rows, 1, n_mels, frames));
        for ``multimodal_vae`` a dict with ``audio``, ``lyrics``, ``mask_audio``, ``mask_lyrics``.
        Read per batch, never copied whole into a tensor.
    cfg : TrainConfig
        With ``pretrain_epochs > 0`` the model (``vade``) is first trained as an autoencoder, then
        initialises its prior from the training rows' latent means, then the ELBO is trained
        with a fresh optimiser.
    track_ids : array-like of str, shape (n_rows,)
        Song of each row; windows of one song are all on one side of the split.
    cond : array-like, shape (n_rows,) or (n_rows, n_classes), optional
        Condition for a CVAE (codes, names or one-hot).
    run_dir : path, optional
        If given, history.csv is rewritten there every ``HISTORY_EVERY_S`` seconds (progress of long
        runs) and when training ends.
    callbacks : sequence
        Objects with ``on_epoch_end(epoch, logs, model)`` (or such functions), called after every
        epoch with a copy of its metrics: ``phase`` ("pretrain" or "elbo"), ``epoch`` (counted
        within the phase), ``beta``, ``train_``/``val_`` ``loss``, ``recon``, ``kl`` (nats, mean
        per row), ``val_elbo_loss``, ``active_units``, ``lr``, ``seconds`` (this epoch) and
        ``elapsed`` (seconds since ``fit`` started).
    train_mask : np.ndarray of bool, shape (n_rows,), optional
        The by-song split, as the caller already made it to scale the inputs
        (``split.split_by_song(track_ids, cfg.val_fraction, cfg.seed)``); the rest is validation.
        Default: made here the same way.

    Returns
    -------
    RunResult with the best weights loaded into ``model``; for a model with ``predict`` (``vade``),
    ``extra_latents`` holds its ``cluster`` assignments and ``cluster_proba`` for every row.
    """
    started = time.perf_counter()
    track_ids = np.asarray(track_ids).astype(str)
    n = n_rows(X)
    if len(track_ids) != n:
        raise ValueError(f"track_ids has {len(track_ids)} rows, X has {n}")
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    model.to(device)
    c = encode_condition(model, cond, n)
    train, val = _split(track_ids, cfg, train_mask)
    tr_rows, va_rows = np.flatnonzero(train), np.flatnonzero(val)
    k = cfg.windows_per_song
    table = _neighbour_table(model, X, track_ids, tr_rows, cfg) if cfg.neighbour_weight > 0 else None
    tr = make_loader(X, tr_rows, c, cfg.batch_size, True, cfg.seed, cfg.num_workers, track_ids[tr_rows], k, table)
    va = (make_loader(X, va_rows, c, cfg.batch_size, False, cfg.seed, cfg.num_workers, track_ids[va_rows], k)
          if len(va_rows) else None)
    pretrain_rows = _pretrain(model, X, c, tr, va, tr_rows, cfg, device, callbacks, started) if cfg.pretrain_epochs else []
    opt = adam(model, cfg.lr)  # fresh after pretraining: the objective changed

    rows, best, best_epoch, best_state, waited, written = [], float("inf"), -1, None, 0, started
    bar = tqdm(range(cfg.epochs), desc=model.config["kind"], disable=not cfg.progress)
    for epoch in bar:
        beta = cfg.beta * min(1.0, (epoch + 1) / cfg.warmup_epochs) if cfg.warmup_epochs > 0 else cfg.beta
        logs, _ = _train_and_validate(model, tr, va, device, beta, cfg, opt)
        rows.append({"epoch": epoch, **logs, "elapsed": time.perf_counter() - started})
        score = logs["val_elbo_loss"]
        if not np.isfinite(score):
            raise FloatingPointError(f"non-finite loss at epoch {epoch}: {rows[-1]}")
        if score < best:
            best, best_epoch, waited = score, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        elif epoch + 1 > cfg.warmup_epochs:
            waited += 1
        bar.set_postfix(loss=f"{logs['train_loss']:.3g}", val=f"{logs['val_loss']:.3g}", au=logs["active_units"])
        _notify(callbacks, epoch, {**rows[-1], "phase": "elbo"}, model)
        if run_dir is not None and time.perf_counter() - written >= HISTORY_EVERY_S:
            atomic_to_csv(pd.DataFrame(rows), Path(run_dir) / "history.csv")
            written = time.perf_counter()
        if waited >= cfg.patience:
            break
    model.load_state_dict(best_state)
    history = pd.DataFrame(rows)
    history["best"] = history["epoch"] == best_epoch
    if run_dir is not None:
        atomic_to_csv(history, Path(run_dir) / "history.csv")
    latents = encode_all(model, X, c, device=device)
    extra = {}
    if model.config["kind"] == "multimodal_vae":
        extra = {f"mu_{w}": encode_all(model, X, device=device, which=w) for w in ("audio", "lyrics")}
    if hasattr(model, "predict"):
        extra.update(predict_clusters(model, X, c, device=device))
    return RunResult(model=model, history=history, latents=latents, track_ids=track_ids, best_epoch=best_epoch,
                     best_state=best_state, run_dir=Path(run_dir) if run_dir else None, extra_latents=extra,
                     train_mask=train, val_mask=val, pretrain_history=pd.DataFrame(pretrain_rows))
