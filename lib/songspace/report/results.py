"""Read what the pipeline wrote for one collection, as the report (06) shows it: one call, typed fields.

Paths come from ``config.dataset_dirs``; nothing is computed here beyond reading (and the ``plan``
of the tracks, which every section reads). A results table 04 or 05 did not write is an error naming
that notebook; a missing ``recommended.json`` is None (and so are the clusters and neighbours then:
05 writes the three together, so a recommendation without its ``clusters.csv`` is an error).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from songspace.data import loading
from songspace.data.plan import Plan
from songspace.report import summary
from songspace.training import runs


@dataclass
class Results:
    """Everything 06 reads, loaded once by :func:`load_results`.

    Attributes
    ----------
    dirs : dict of str -> Path
        ``config.dataset_dirs`` of the collection (folders and one path per ``config.RESULT_FILES`` key).
    tracks : DataFrame
        The tracks table (``loading.read_tracks``; ``has_audio`` False where 01 failed to decode).
    validation : DataFrame
        The whole validation report (``loading.read_report``).
    plan : Plan
        What the collection allows (counts, label columns, skipped stages).
    table : DataFrame
        ``representation_comparison.csv`` (05): one row per song set x label x representation x method.
    comparison : DataFrame
        ``cluster_comparison.csv`` (05): clustering algorithms compared.
    sweep : DataFrame
        ``metrics_summary.csv`` (04): one row per sweep configuration.
    runs : DataFrame
        The runs indexes of 02 and 03 (``runs.read_index``; columns ``runs.INDEX_COLUMNS`` when empty).
    recommended : dict or None
        ``recommended.json`` (``recommendation.recommend`` + ``export.write``: rep, method, k, seed, reason, ...); None when 05 wrote none.
    clusters : DataFrame or None
        ``clusters.csv`` (track_id as str); None without a recommendation.
    neighbours : DataFrame or None
        ``neighbours.csv`` (track_id, neighbour_id as str); None without a recommendation.
    maps : dict of str -> DataFrame
        2-D maps of 05 (``summary.read_maps``), ``"<rep> (<method>)"`` -> track_id, x, y, cluster; {} when none.
    """

    dirs: dict[str, Path]
    tracks: pd.DataFrame
    validation: pd.DataFrame
    plan: Plan
    table: pd.DataFrame
    comparison: pd.DataFrame
    sweep: pd.DataFrame
    runs: pd.DataFrame
    recommended: dict | None
    clusters: pd.DataFrame | None
    neighbours: pd.DataFrame | None
    maps: dict[str, pd.DataFrame]

    @property
    def labels(self) -> list[str]:
        """Label columns scored (``plan.labels``); [] without labels."""
        return self.plan.labels

    @property
    def meta(self) -> pd.DataFrame:
        """The tracks table indexed by ``track_id`` as str (a new frame each time: callers may add columns)."""
        return self.tracks.assign(track_id=self.tracks["track_id"].astype(str)).set_index("track_id")


WRITTEN_BY = {"representation_comparison": "05_clustering", "cluster_comparison": "05_clustering",
              "sweep_metrics": "04_sweeps"}


def _clusters(path) -> pd.DataFrame:
    """``clusters.csv`` with its cluster columns as nullable integers: a song without a cluster is an empty
    cell, which would make the column float ("cluster 2.0" in the report)."""
    df = pd.read_csv(path, dtype={"track_id": str})
    ids = [c for c in df.columns if c == "cluster" or c.startswith("cluster_")]
    return df.astype({c: "Int64" for c in ids})


def _csv(dirs: dict, key: str) -> pd.DataFrame:
    """A results table the pipeline always writes (empty when there was nothing to score): missing means
    the notebook that writes it did not run, which is said, not hidden behind an empty report."""
    path = dirs[key]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run {WRITTEN_BY[key]} first (make all does)")
    return pd.read_csv(path)


def load_results(dirs: dict[str, Path]) -> Results:
    """Read the tracks, the validation report and every results artifact the report shows.

    Parameters
    ----------
    dirs : dict
        ``config.dataset_dirs(dataset, data_root, results_root)``.

    Returns
    -------
    Results
        ``recommended``, ``clusters`` and ``neighbours`` are None when ``recommended.json`` is missing
        (05 writes none of them when there are too few songs to cluster); no maps give ``{}``.

    Raises
    ------
    loading.DatasetError
        when the tracks table or the validation report is missing (00 did not run).
    FileNotFoundError
        when a results table of 04 or 05 is missing (naming the notebook to run), or when
        ``recommended.json`` is there but ``clusters.csv`` or ``neighbours.csv`` is not.
    """
    tracks = loading.read_tracks(dirs["interim"], dirs["processed"])
    rec_path = dirs["recommended"]
    rec = json.loads(rec_path.read_text()) if rec_path.is_file() else None
    return Results(
        dirs=dirs, tracks=tracks, validation=loading.read_report(dirs["interim"], dirs["processed"]),
        plan=Plan.of(tracks),
        table=_csv(dirs, "representation_comparison"),
        comparison=_csv(dirs, "cluster_comparison"),
        sweep=_csv(dirs, "sweep_metrics"),
        runs=runs.read_index(dirs["runs_mlp"], dirs["runs_conv"]),
        recommended=rec,
        clusters=_clusters(dirs["clusters"]) if rec else None,
        neighbours=pd.read_csv(dirs["neighbours"], dtype={"track_id": str, "neighbour_id": str}) if rec else None,
        maps=summary.read_maps(dirs["embeddings"]),
    )
