"""The record every representation travels in, from the features and runs to clustering and the report."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Representation:
    """A matrix to cluster and what it is.

    Parameters
    ----------
    X : np.ndarray, shape (n_rows, d)
        One row per song, or per window (``track_ids`` then repeat; rows are averaged per song
        before clustering).
    track_ids : np.ndarray of str, shape (n_rows,)
    family : ``"baseline"`` (no learned model, and the deterministic autoencoder) or ``"model"``: which side of
        the verdicts a row is on. Whether it is a trained model's latents is ``learned``.
    modality : ``"audio"``, ``"lyrics"`` or ``"hybrid"``.
    norm : how it is normalised before clustering (``cluster.preprocess``): ``"zscore"``, ``"l2"`` or
        ``"none"`` (latent means and already-scaled blocks keep their geometry).
    kind, run_dir : model kind and run folder of the run it comes from (models only).
    condition_column : label a conditional model saw (str or list): never scored against.
    backend : feature backend of a baseline (``"descriptors"``, ``"musicnn-msd"``, ``"e5"``, ...).
    transform : for a baseline derived from ``backend``'s song vectors (its PCA), the fitted map from those
        vectors to ``X`` (``cluster.fit_projection``), so new songs can be placed into it; None otherwise.
    """

    X: np.ndarray
    track_ids: np.ndarray
    family: str = "model"
    modality: str = ""
    norm: str = "zscore"
    kind: str | None = None
    run_dir: str | None = None
    condition_column: str | list | None = None
    backend: str | None = None
    transform: object | None = None

    @property
    def learned(self) -> bool:
        """Whether these are a trained model's latents (the autoencoder's too): placing a new song into them
        needs the model's encoder, not only the features."""
        return self.family == "model" or self.kind is not None

    def rows(self, keep) -> "Representation":
        """The same representation on the rows ``keep`` (a boolean mask or positions) only."""
        return dataclasses.replace(self, X=np.asarray(self.X)[keep], track_ids=np.asarray(self.track_ids)[keep])
