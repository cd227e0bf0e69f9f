"""Stopping bad sweep configurations early: Optuna's successive-halving pruner on the validation ELBO.

A configuration is screened on its first seed: after every epoch its run reports the validation negative
ELBO at beta 1 (reconstruction + KL, comparable across beta, latent size and architecture, and blind to
labels) to an Optuna trial, and ``optuna.pruners.SuccessiveHalvingPruner`` stops it at a rung (epoch
``min_epochs * reduction_factor**i``) where it is not among the best ``1 / reduction_factor`` of the
configurations that reached that rung before it. Configurations are screened one after the other in
grid order, so the decisions never depend on which worker finished first, and a resumed sweep replays
the values it saved (``screen.json``) into the same trials instead of training again: same decisions,
same results. Survivors keep their finished first-seed run; the sweep trains their other seeds.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from songspace.cache import atomic_write_text
from songspace.training.runs import RunSpec, train_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruning:
    """Settings of the screen (the profile's ``sweep_pruning``).

    min_epochs : the first rung: no configuration is stopped before it has trained this many epochs.
    reduction_factor : at each rung only the best 1/reduction_factor so far go on (Optuna's ``eta``).
    """

    min_epochs: int = 3
    reduction_factor: int = 3

    @property
    def label(self) -> str:
        """The settings as text, saved with each verdict: a verdict counts only under the settings that gave it."""
        return f"successive halving, min_epochs {self.min_epochs}, reduction_factor {self.reduction_factor}"


def neg_elbo(logs: dict) -> float:
    """Validation negative ELBO at beta 1 of one epoch's logs (``fit``'s ``val_recon`` + ``val_kl``)."""
    return float(logs["val_recon"] + logs["val_kl"])


class Reporter:
    """``fit`` callback: report each epoch's validation negative ELBO to an Optuna trial and raise
    ``optuna.TrialPruned`` when the pruner says stop. ``values`` keeps what was reported."""

    def __init__(self, trial):
        self.trial, self.values = trial, []

    def on_epoch_end(self, epoch: int, logs: dict, model) -> None:
        import optuna

        if logs.get("phase") == "pretrain":  # the autoencoder phase of VaDE has no ELBO
            return
        self.values.append(neg_elbo(logs))
        self.trial.report(self.values[-1], epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"stopped after epoch {epoch}")


def _replay(trial, values: list[float]) -> bool:
    """Report saved values into a new trial; True when the pruner stops it at one of them."""
    for epoch, value in enumerate(values):
        trial.report(value, epoch)
        if trial.should_prune():
            return True
    return False


def screen(first_runs: dict[str, RunSpec], state_path, settings: Pruning = Pruning(), threads: int = 1) -> dict:
    """Train each configuration's first-seed run under the pruner, in the order given.

    Parameters
    ----------
    first_runs : configuration hash -> its first seed's ``RunSpec`` (grid order).
    state_path : JSON file of what was screened (values reported, pruned or not) and under which ``settings``,
        written after each configuration; read back so a resumed sweep replays instead of retraining (only
        when the settings are the same).
    settings : the pruner's rungs.
    threads : torch threads of each run (the screen runs one configuration at a time).

    Returns
    -------
    dict hash -> ``{"pruned": bool, "epochs": int, "neg_elbo": float}`` (the last value reported).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    state_path = Path(state_path)
    saved = json.loads(state_path.read_text()) if state_path.exists() else {}
    # what was screened under other rungs would replay into a different decision: screened again
    state = saved.get("configs", {}) if saved.get("settings") == settings.label else {}
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=settings.min_epochs,
                                                    reduction_factor=settings.reduction_factor)
    study = optuna.create_study(direction="minimize", pruner=pruner)  # in memory: state_path is the record
    out = {}
    for h, spec in first_runs.items():
        trial = study.ask()
        if h in state:
            pruned = _replay(trial, state[h]["values"])
        else:
            reporter = Reporter(trial)
            try:
                row = train_run(spec, threads=threads, callbacks=[reporter])
                pruned = False
                if not reporter.values:  # a finished run was loaded (02 trained it): replay its history
                    reporter.values = history_values(row["run_dir"])
                    pruned = _replay(trial, reporter.values)
            except optuna.TrialPruned:
                pruned = True
            state[h] = {"values": reporter.values, "pruned": pruned}
            atomic_write_text(state_path, json.dumps({"settings": settings.label, "configs": state}, indent=1))
        values = state[h]["values"]
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, min(values))
        out[h] = {"pruned": pruned, "epochs": len(values), "neg_elbo": values[-1]}
        log.info("screen %s: %s after %d epochs (val -ELBO %.4g)", spec.model, "pruned" if pruned else "kept",
                 len(values), values[-1])
    return out


def history_values(run_dir) -> list[float]:
    """The validation negative ELBO of every ELBO epoch of a finished run (its ``history.csv``)."""
    import pandas as pd

    history = pd.read_csv(Path(run_dir) / "history.csv")
    return [neg_elbo(row) for row in history.to_dict("records")]
