"""Training budgets: what window-level training and the sweep may cost, so that `make all` grows
linearly with the number of songs, not with songs x windows x epochs x configurations x seeds.

A budget counts *samples*: rows (windows, or songs for song-level models) the optimiser sees. It is
deterministic (unlike a wall-clock limit, it gives the same runs on every machine) and proportional
to time: on this project's 2-core reference machine one full-profile ConvVAE run of 40,000 samples
took ~30 s per worker on a 1,000-song collection (encoding its 120,000 windows included), and a
song-level MLP VAE run of 100,000 samples ~7 s. A run small enough to fit trains exactly as
configured (the shipped corpus's do; its sweep keeps 2 of 5 seeds).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Budget:
    """Samples one window-level training run may see (``run_samples``), one song-level run
    (``song_samples``: one row per song, so only its epochs can be cut) and the ConvVAE part of a sweep
    in all (``sweep_samples``); a sweep keeps at least ``min_seeds`` seeds and one configuration."""

    run_samples: int = 40_000
    sweep_samples: int = 150_000
    song_samples: int = 100_000
    min_seeds: int = 2
    min_epochs: int = 5


def _cut_epochs(kw: dict, new_epochs: int) -> dict:
    """``kw`` with ``new_epochs`` epochs; warm-up and patience shrink in proportion (at least 1)."""
    scale = new_epochs / int(kw["epochs"])
    kw = {**kw, "epochs": new_epochs}
    for key in ("warmup_epochs", "patience"):
        if key in kw:
            kw[key] = max(1, int(round(kw[key] * scale)))
    return kw


def window_training(train_kw: dict, n_windows: int, n_songs: int, budget: Budget) -> tuple[dict, str | None]:
    """Training settings of a window-level run that fit ``budget.run_samples``.

    Keeps the configured epochs and thins the windows each training song gives per epoch
    (``windows_per_song``); only when one window per song is still too much are the epochs cut
    (not below ``min_epochs``; warm-up and patience shrink in proportion).

    Parameters
    ----------
    train_kw : dict of ``TrainConfig`` fields (``epochs`` at least).
    n_windows, n_songs : int, windows and songs of the collection (all, before the split).
    budget : Budget

    Returns
    -------
    (train_kw, note): unchanged and None when it fits; else the new settings and one sentence.
    """
    vf = train_kw.get("val_fraction", 0.2)  # share of songs held out
    epochs = int(train_kw["epochs"])
    train_windows, train_songs = (1 - vf) * n_windows, max(1.0, (1 - vf) * n_songs)
    if epochs * train_windows <= budget.run_samples:
        return dict(train_kw), None
    per_song = int(budget.run_samples // (epochs * train_songs))
    kw = dict(train_kw)
    if per_song >= 1:
        kw["windows_per_song"] = per_song
        note = (f"each epoch sees {per_song} random window(s) of every training song instead of all "
                f"{n_windows / max(n_songs, 1):.0f} (budget {budget.run_samples:,} samples per run)")
        return kw, note
    new_epochs = min(epochs, max(budget.min_epochs, int(budget.run_samples // train_songs)))
    kw = {**_cut_epochs(kw, new_epochs), "windows_per_song": 1}
    note = (f"one random window of every training song per epoch and {new_epochs} epochs instead of {epochs} "
            f"(budget {budget.run_samples:,} samples per run)")
    return kw, note


def song_training(train_kw: dict, n_songs: int, budget: Budget) -> tuple[dict, str | None]:
    """Training settings of a song-level run (one row per song) that fit ``budget.song_samples``:
    fewer epochs (not below ``min_epochs``), warm-up and patience in proportion.

    Returns
    -------
    (train_kw, note): unchanged and None when it fits; else the new settings and one sentence.
    """
    vf = train_kw.get("val_fraction", 0.2)
    epochs, train_songs = int(train_kw["epochs"]), max(1.0, (1 - vf) * n_songs)
    if epochs * train_songs <= budget.song_samples:
        return dict(train_kw), None
    new_epochs = min(epochs, max(budget.min_epochs, int(budget.song_samples // train_songs)))
    note = (f"{new_epochs} epochs instead of {epochs} over the {n_songs:,} songs "
            f"(budget {budget.song_samples:,} samples per run)")
    return _cut_epochs(dict(train_kw), new_epochs), note


def run_cost(train_kw: dict, n_windows: int, n_songs: int) -> float:
    """Samples a window-level run with ``train_kw`` sees at most (all its epochs)."""
    vf = train_kw.get("val_fraction", 0.2)
    k = train_kw.get("windows_per_song", 0)
    per_epoch = (1 - vf) * (min(n_windows, k * n_songs) if k else n_windows)
    return float(train_kw["epochs"]) * per_epoch


def sweep_plan(costs: list[float], n_seeds: int, budget: Budget) -> tuple[int, int, list[str]]:
    """How much of a sweep fits ``budget.sweep_samples``: seeds are cut first (to ``min_seeds``),
    then configurations from the end of the grid (at least one stays).

    Parameters
    ----------
    costs : samples per seed of each budgeted configuration, in grid order (``run_cost``).
    n_seeds : seeds asked for.

    Returns
    -------
    (n_seeds_kept, n_configs_kept, cuts): the cuts as sentences, empty when everything fits.
    """
    total = float(np.sum(costs))
    if not costs or total * n_seeds <= budget.sweep_samples:
        return n_seeds, len(costs), []
    cuts = []
    seeds = max(min(budget.min_seeds, n_seeds), int(budget.sweep_samples // total))
    if seeds < n_seeds:
        cuts.append(f"seeds {n_seeds} -> {seeds}")
    within = np.cumsum(costs) * seeds <= budget.sweep_samples
    n_cfg = max(1, int(within.sum()))
    if n_cfg < len(costs):
        cuts.append(f"ConvVAE configurations {len(costs)} -> {n_cfg} (the last ones of the grid)")
    if cuts:
        cuts[-1] += f" (budget {budget.sweep_samples:,} samples)"
    return seeds, n_cfg, cuts
