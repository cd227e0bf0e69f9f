"""The real-data quality table of ``make bench BENCH_COLLECTION=/folder``: every representation
(audio backend x model) clustered against every label of a collection the user names, with the
seed spread and the permutation chance level, from a ``make all`` run on that collection, and what each
stage of that run cost (papermill's own duration of every executed notebook).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from songspace.cache import atomic_to_csv
from songspace.config import RESULT_FILES

COLUMNS = ["song_set", "label_column", "rep", "family", "modality", "norm", "method", "n_items", "k",
           "ami_mean", "ami_std", "ami_chance_p95_mean", "nmi_mean", "ari_mean", "n_seeds"]


def quality_table(results_dir) -> pd.DataFrame:
    """AMI of every scored representation per label and song set, best first.

    Parameters
    ----------
    results_dir : the ``RESULTS`` folder of a ``make all`` run (reads ``representation_comparison.csv``).

    Returns
    -------
    DataFrame with ``COLUMNS`` (those present), one row per (song set, label, representation, method),
    plus ``clears_chance``: the mean AMI is above the permutation 95th percentile.
    """
    table = pd.read_csv(Path(results_dir) / RESULT_FILES["representation_comparison"])
    table = table[table["label_column"] != "none"] if "label_column" in table else table
    if table.empty:
        raise ValueError(f"{results_dir}: no labelled scores: the collection needs a label column "
                         "(genre, a folder per group, ...) for a quality table")
    out = table[[c for c in COLUMNS if c in table.columns]].copy()
    out["clears_chance"] = out["ami_mean"] > out["ami_chance_p95_mean"]
    return out.sort_values(["song_set", "label_column", "ami_mean"], ascending=[True, True, False]).reset_index(drop=True)


def stage_times(results_dir, wall_seconds: float | None = None) -> pd.DataFrame:
    """Seconds of every notebook a ``make all`` run executed, from the metadata papermill writes.

    Parameters
    ----------
    results_dir : the run's ``RESULTS`` folder (reads ``notebooks/NN_*.ipynb``).
    wall_seconds : the whole ``make all`` as the caller timed it (environment check, rendering and the PDF
        included); adds a ``total (make all)`` row.

    Returns
    -------
    DataFrame ``stage``, ``seconds``, ``share`` (of the total, or of the notebooks' sum without one).
    """
    books = sorted(p for p in (Path(results_dir) / "notebooks").glob("[0-9][0-9]_*.ipynb") if ".part" not in p.name)
    if not books:
        raise FileNotFoundError(f"{results_dir}/notebooks: no executed notebooks: did `make all` run?")
    rows = [{"stage": p.stem, "seconds": float(json.loads(p.read_text())["metadata"]["papermill"]["duration"])}
            for p in books]
    total = float(wall_seconds) if wall_seconds is not None else sum(r["seconds"] for r in rows)
    if wall_seconds is not None:
        rows.append({"stage": "total (make all)", "seconds": total})
    out = pd.DataFrame(rows)
    out["share"] = out["seconds"] / total
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m songspace.evaluation.quality", description=__doc__.splitlines()[0])
    ap.add_argument("results_dir")
    ap.add_argument("out_csv")
    ap.add_argument("--times-csv", help="also write the run's seconds per stage here")
    ap.add_argument("--wall-seconds", type=float, help="the whole make all, timed by the caller")
    a = ap.parse_args(argv)
    try:
        table = quality_table(a.results_dir)
    except (FileNotFoundError, ValueError) as e:
        print(f"songspace: error: {e}", file=sys.stderr)
        return 2
    atomic_to_csv(table, a.out_csv)
    with pd.option_context("display.width", 200, "display.max_rows", 60):
        print(table.groupby(["song_set", "label_column"]).head(8).round(3).to_string(index=False))
    print(f"wrote {a.out_csv}")
    if a.times_csv:
        times = stage_times(a.results_dir, a.wall_seconds)
        atomic_to_csv(times, a.times_csv)
        print(times.round({"seconds": 1, "share": 3}).to_string(index=False))
        print(f"wrote {a.times_csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
