"""Project paths and the tiny profile shared by tests and the demo.

Parameter sets live beside the code that uses them (``audio.AudioParams``,
``train.TrainConfig``, ...) as plain dataclasses a papermill cell can build from a dict.
"""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """Root of the checkout: ``$SONGSPACE_ROOT`` if set, else the folder holding ``pyproject.toml``."""
    env = os.environ.get("SONGSPACE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    return Path.cwd().resolve()


ROOT = project_root()
DATA = ROOT / "data"
RAW = DATA / "raw"
INTERIM = DATA / "interim"
PROCESSED = DATA / "processed"
RESULTS = ROOT / "results"


def dataset_dirs(name: str, data_root: Path | str | None = None, results_root: Path | str | None = None) -> dict[str, Path]:
    """Folders of one dataset along the pipeline.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"jamendolyrics"`` or ``"demo"``.
    data_root, results_root : path, optional
        Override ``data/`` and ``results/`` (tests point them at a tmp dir).

    Returns
    -------
    dict with keys ``raw``, ``interim``, ``processed``, ``results``.
    """
    d = Path(data_root) if data_root else DATA
    r = Path(results_root) if results_root else RESULTS
    return {
        "raw": d / "raw" / name,
        "interim": d / "interim" / name,
        "processed": d / "processed" / name,
        "results": r,
    }
