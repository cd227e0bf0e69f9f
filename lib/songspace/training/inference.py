"""A trained model applied: latents of every row in batches, the condition of a conditional model, active
units, and the clusters of a clustering-native model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from songspace.models.base import BaseVAE
from songspace.training.batches import make_loader, n_rows, to_device


def encode_condition(model: BaseVAE, cond, n_rows: int) -> np.ndarray | None:
    """One-hot condition (n_rows, n_classes) float32 for a conditioned model, else None.

    ``cond`` is integer codes, one-hot rows, or category names when the model's config has
    ``classes``. Missing values (None/NaN) give an all-zero row ("unknown"); a name outside
    ``classes`` or a code out of range is an error.
    """
    k = int(model.config.get("n_classes", 0) or 0)
    if k == 0:
        if cond is not None:
            raise ValueError(f"model kind {model.config['kind']!r} is not conditioned; cond must be None")
        return None
    if cond is None:
        raise ValueError(f"model is conditioned on {model.config.get('condition_column')!r}: pass cond")
    cond = np.asarray(cond, dtype=object) if not isinstance(cond, np.ndarray) else cond
    if len(cond) != n_rows:
        raise ValueError(f"cond has {len(cond)} rows, data has {n_rows}")
    if cond.ndim == 2:
        if cond.shape[1] != k:
            raise ValueError(f"one-hot cond has {cond.shape[1]} columns, model expects {k}")
        return cond.astype(np.float32)
    oh = np.zeros((n_rows, k), dtype=np.float32)
    classes = model.config.get("classes")
    index = {str(c): i for i, c in enumerate(classes)} if classes else None
    for r, v in enumerate(cond):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            continue
        if index is not None:
            if str(v) not in index:
                raise ValueError(f"cond row {r}: value {v!r} not in the model's classes {classes}")
            oh[r, index[str(v)]] = 1.0
        else:
            i = int(v)
            if not 0 <= i < k:
                raise ValueError(f"cond row {r}: code {i} outside [0, {k})")
            oh[r, i] = 1.0
    return oh


def condition(cb: torch.Tensor) -> torch.Tensor | None:
    """A batch's condition as the models take it: ``RowBatches`` gives an empty tensor for none."""
    return None if cb.numel() == 0 else cb


def active_units(mu: torch.Tensor | np.ndarray, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies over the data: Var_x[E q(z|x)] > threshold (Burda et al. 2016)."""
    mu = torch.as_tensor(mu)
    if mu.shape[0] < 2:
        return 0
    return int((mu.var(0) > threshold).sum())


@torch.no_grad()
def _map_batches(fn, X, cond, rows, batch_size, device) -> np.ndarray:
    """``fn(xb, condition)`` over ``rows`` in order, batch by batch, as numpy."""
    out = []
    for xb, cb in make_loader(X, rows, cond, batch_size, False, 0, 0):
        xb, cb = to_device(xb, device), cb.to(device)
        out.append(fn(xb, condition(cb)).cpu())
    return torch.cat(out).numpy()


def encode_all(model: BaseVAE, X, cond=None, batch_size: int = 256, device="cpu", which: str | None = None,
               rows=None) -> np.ndarray:
    """Posterior means of ``rows`` (default: every row) in input order, shape (n, latent_dim), read batch by batch."""
    model.eval()
    rows = np.arange(n_rows(X)) if rows is None else np.sort(np.asarray(rows))
    return _map_batches(lambda xb, c: model.embed(xb, c, which=which or "joint"), X, cond, rows, batch_size,
                        device).astype(np.float32)


def predict_clusters(model: BaseVAE, X, cond=None, batch_size: int = 256, device="cpu") -> dict:
    """A clustering model's own assignments for every row: ``cluster`` (n_rows,) int64 = ``predict``
    and ``cluster_proba`` (n_rows, K) float32 = ``predict_proba``."""
    model.eval()
    rows = np.arange(n_rows(X))
    return {"cluster": _map_batches(model.predict, X, cond, rows, batch_size, device).astype(np.int64),
            "cluster_proba": _map_batches(model.predict_proba, X, cond, rows, batch_size, device).astype(np.float32)}
