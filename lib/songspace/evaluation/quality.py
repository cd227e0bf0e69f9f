"""The real-data quality table of ``make bench BENCH_COLLECTION=/folder``: every representation
(audio backend x model) clustered against every label of a collection the user names, with the
seed spread and the permutation chance level, from a ``make all`` run on that collection.
"""
from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m songspace.evaluation.quality", description=__doc__.splitlines()[0])
    ap.add_argument("results_dir")
    ap.add_argument("out_csv")
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
