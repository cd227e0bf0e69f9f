"""How feature blocks are scaled before a model or a clustering sees them, so that each modality weighs the same."""
from __future__ import annotations

import numpy as np


def block_norm(backend: str | None) -> str:
    """``zscore`` for the heterogeneous descriptor block, ``l2`` for every embedding."""
    return "zscore" if backend in (None, "descriptors") else "l2"


def l2_rows(B: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean norm (all-zero rows stay zero). Shape kept."""
    norm = np.linalg.norm(B, axis=1, keepdims=True)
    return B / np.where(norm > 0, norm, 1.0)


def standardise_blocks(blocks: dict[str, np.ndarray], train_mask, masks: dict[str, np.ndarray] | None = None,
                       stats: dict | None = None, modes: dict[str, str] | None = None) -> tuple[np.ndarray, dict]:
    """Concatenate feature blocks so that each modality weighs the same.

    How a block is scaled depends on what it is (``modes``, default ``"zscore"``): a block of
    heterogeneous descriptors is z-scored column by column; an embedding (``"l2"``) keeps its
    geometry: rows are L2-normalised, centred, and divided by one scalar (the RMS of the training
    rows), so distances and angles between songs are those of the embedding up to one factor.
    Statistics are fitted on training rows that have the modality. Each block is then
    scaled by sqrt(D / (n_blocks * block_dim)) (D = total width), so every block contributes the same
    total variance, D / n_blocks, whatever its width or units, and the whole vector keeps the total
    variance D of a plain z-scored vector. The latter matters: a total variance of ~1 (scaling by
    1/sqrt(block_dim)) makes reconstruction worth about one nat and collapses the posterior at beta = 1.
    Rows without the modality stay all zeros in that block.

    Parameters
    ----------
    blocks : dict name -> np.ndarray, shape (n_rows, d_name)
        E.g. ``{"audio": descriptors, "lyrics": embeddings}``; order of the dict is column order.
    train_mask : np.ndarray of bool, shape (n_rows,)
        Rows the statistics are fitted on (never validation/test rows).
    masks : dict name -> bool array (n_rows,), optional
        Rows where the modality is present; default: rows that are not all zero (and finite).
    stats : dict, optional
        Statistics from an earlier call to apply instead of fitting.
    modes : dict name -> ``"zscore"`` or ``"l2"``, optional
        Scaling per block (see above); missing names are ``"zscore"``.

    Returns
    -------
    X : np.ndarray float32, shape (n_rows, sum d_name)
    stats : dict name -> {"mean", "std" (d,) or scalar, "scale", "start", "stop", "mode"}
    """
    modes = modes or {}
    train_mask = np.asarray(train_mask, dtype=bool)
    n = len(train_mask)
    fit = stats is None
    stats = {} if fit else stats
    out, start = [], 0
    total = sum(np.shape(B)[1] for B in blocks.values())
    for name, B in blocks.items():
        B = np.asarray(B, dtype=np.float64)
        if B.ndim != 2 or B.shape[0] != n:
            raise ValueError(f"block {name!r} has shape {B.shape}; expected ({n}, d) to match train_mask")
        present = (np.asarray(masks[name], dtype=bool) if masks and name in masks
                   else np.isfinite(B).all(1) & (np.abs(B).sum(1) > 0))
        mode = stats[name]["mode"] if not fit else modes.get(name, "zscore")
        if mode not in ("zscore", "l2"):
            raise ValueError(f"block {name!r}: unknown scaling mode {mode!r} (zscore or l2)")
        if mode == "l2":
            B = l2_rows(B)
        if fit:
            rows = present & train_mask
            if not rows.any():
                raise ValueError(f"block {name!r} has no training row with the modality present")
            mean = B[rows].mean(0)
            if mode == "zscore":
                std = B[rows].std(0)
                std = np.where(std > 1e-8, std, 1.0)  # constant columns: centre only
            else:  # one scalar for the block: unit variance per column on average, geometry kept
                std = float(np.sqrt(((B[rows] - mean) ** 2).mean())) or 1.0
            stats[name] = {"mean": mean, "std": std, "scale": np.sqrt(total / (len(blocks) * B.shape[1])),
                           "start": start, "stop": start + B.shape[1], "mode": mode}
        s = stats[name]
        Z = np.zeros_like(B)
        Z[present] = (B[present] - s["mean"]) / s["std"] * s["scale"]
        out.append(Z)
        start += B.shape[1]
    return np.concatenate(out, axis=1).astype(np.float32), stats
