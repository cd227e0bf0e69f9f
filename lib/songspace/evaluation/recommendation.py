"""Which clustering the user takes home: a (representation, algorithm) pair of 05's tables, picked by the
seed-spread rule (a gap counts when larger than the larger seed std; not the noise level of ``verdicts.verdict``).

With labels: the highest mean AMI over the label columns on the widest song set; a pair that ties with
it (its gap within the larger seed standard deviation of the two) and is simpler wins: plain features
before a model (the autoencoder, scored as a baseline, counts as a model here), then K-Means before the
other algorithms (the reference method, with a predict for new songs), then the higher score. A pair whose
large seed spread only ties with the best never displaces a plainer best. The pick reads the seed spread
alone, not the permutation width the verdicts add: the pairs are clusterings of the same songs that mostly
agree, so their gap is far less noisy than one random partition's score, and at 100 songs the width
(0.03-0.05) would hand a real gain back to the simpler pair (on Emotify's 100 clips it would have kept
K-Means on the PCA, 0.308 over the labels, over Ward on the raw features, 0.339).
Without labels: the same rule on a label-free criterion, the silhouette in the space the representation
is clustered in (its own normalisation), mean over seeds. Silhouette tends to grow as dimension shrinks,
so the reason says so beside the pick.

Passed over, and said so: a model's own clusters (``method`` "own": no clustering of a matrix to
write or to place new songs in), a clustering that leaves songs out as noise (DBSCAN: its AMI is on
the rest), a representation not scored on every label (a CVAE is never scored on its condition), a
sweep's best configuration picked on these very labels (unless it is all there is), and labels that not
every algorithm was scored on (labels of many classes: K-Means alone scores them), so that every pair is
compared on the same labels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from songspace.evaluation.metrics import NO_LABEL
from songspace.evaluation.scoring import format_pm
from songspace.evaluation.verdicts import chosen_on_labels

# Without labels nothing shows one representation best beyond the label-free criterion; when it ties,
# plain features covering the most songs come first (on the shipped corpus no VAE beat them).
DEFAULT_PREFERENCE = ("hybrid_raw", "audio_raw", "lyrics_only", "multimodal_joint", "mlp_vae")
LABEL_FREE = "silhouette"  # the label-free criterion: silhouette in the representation's own geometry


def candidates(table: pd.DataFrame, comparison: pd.DataFrame | None = None) -> pd.DataFrame:
    """The summary rows a recommendation can pick from: 05's K-Means table and its algorithm comparison
    (``cluster_comparison.csv``), one row per (song set, label, representation, method, k), own
    clusters left out. The K-Means rows of both tables are the same clusterings (same function, seeds)."""
    parts = [t for t in (table, comparison) if t is not None and len(t)]
    if not parts:
        return pd.DataFrame()
    t = pd.concat(parts, ignore_index=True)
    t = t[t["method"] != "own"]
    key = [c for c in ("song_set", "label_column", "rep", "method", "k") if c in t]
    return t.drop_duplicates(key).reset_index(drop=True)


def _rank(pairs: pd.DataFrame, rep_order) -> pd.DataFrame:
    """Pairs (columns rep, method, learned, score, spread) in the order of the seed-spread rule: those that
    tie with the best (its gap within the larger seed std of the two) first, among them plain features
    before a trained model's latents (``learned``: the autoencoder's too, which is scored as a baseline, but
    new songs cannot be placed into its latents without its encoder), K-Means before the other algorithms,
    then ``rep_order`` and the score."""
    pairs = pairs.sort_values("score", ascending=False).reset_index(drop=True)
    top = pairs.iloc[0]
    gap = top["score"] - pairs["score"]
    spread = np.fmax(pairs["spread"].fillna(0.0), 0.0 if pd.isna(top["spread"]) else float(top["spread"]))
    pairs["tie"] = gap <= spread
    pairs["is_model"] = pairs["learned"].astype(bool)
    pairs["not_kmeans"] = pairs["method"] != "kmeans"
    pairs["rep_rank"] = pairs["rep"].map(rep_order)
    return pairs.sort_values(["tie", "is_model", "not_kmeans", "rep_rank", "score"],
                             ascending=[False, True, True, True, False])


def recommend(table: pd.DataFrame, comparison: pd.DataFrame | None = None) -> dict:
    """The (representation, algorithm) pair to use for ``clusters.csv`` and the neighbours, and why.

    Parameters
    ----------
    table : song-level summary of 05 (``compare.summarise`` rows with ``song_set``).
    comparison : the algorithm comparison (same columns), optional.

    Returns
    -------
    dict: ``rep``, ``method``, ``k``, ``song_set``, ``n_items``, ``label_column`` (the label the pair scores
    best on, or None), ``labels`` (every label averaged over), ``criterion`` ("ami" or "silhouette"),
    ``score_mean``/``score_std`` (the criterion of the row: AMI against ``label_column``, or silhouette),
    ``ami_mean``/``ami_std`` (None without labels), ``n_seeds``, ``ties`` (pairs within the seed spread of
    the best), ``passed_over`` and ``reason`` (one sentence, from the numbers).
    """
    t = candidates(table, comparison)
    if t.empty:
        raise ValueError("recommend: nothing was scored")
    widest = t.loc[t["n_items"].idxmax(), "song_set"]
    t = t[t["song_set"] == widest]
    passed = []
    # the labels each algorithm was scored on, read before any row is passed over: DBSCAN's rows on a label
    # can all be noise while it was scored there, and that must not take the label from the other algorithms
    scored_on = t[t["label_column"] != NO_LABEL].groupby("method")["label_column"].agg(set)
    noisy = t["noise_fraction_mean"].fillna(0) > 0 if "noise_fraction_mean" in t else pd.Series(False, index=t.index)
    if noisy.any():
        passed.append("clusterings that leave songs out as noise (" + ", ".join(
            sorted({f"{r} {m}" for r, m in t.loc[noisy, ["rep", "method"]].itertuples(index=False)})) + ")")
        t = t[~noisy]
    labelled = t[t["label_column"] != NO_LABEL]
    if len(labelled) and "ami_mean" in labelled:
        # every algorithm still compared is compared on the same labels: those some algorithm's table leaves
        # out (labels of many classes, scored by K-Means alone: compare.SIDE_MAX_CLASSES) do not count for any
        # pair; a label a method scored, even as NaN for one pair, is one it has
        methods = sorted(set(labelled["method"]))
        shared = set.intersection(*(scored_on[m] for m in methods))
        labelled = labelled[np.isfinite(labelled["ami_mean"])]
        left = sorted(set(labelled["label_column"]) - shared)
        if left and shared:
            passed.append("the labels not every algorithm was scored on (" + "; ".join(
                _not_scored(lab, labelled, methods, scored_on) for lab in left) + "), so all pairs are compared "
                "on the same labels")
            labelled = labelled[labelled["label_column"].isin(shared)]
        n_labels = labelled["label_column"].nunique()
        complete = labelled.groupby(["rep", "method"])["label_column"].nunique() == n_labels
        keep = labelled.set_index(["rep", "method"]).index.isin(complete[complete].index)
        labelled = labelled[keep]
        fair = labelled[~labelled["rep"].map(chosen_on_labels)]
        if len(fair) < len(labelled) and len(fair):
            passed.append("a sweep's best configuration, chosen on these labels")
            labelled = fair
        rows, criterion = labelled, "ami"
    else:
        rows = t[np.isfinite(t["silhouette_mean"]) & (t["n_clusters_mean"].fillna(2) >= 2)] \
            if "silhouette_mean" in t else t.iloc[0:0]
        criterion = LABEL_FREE
    if rows.empty:
        raise ValueError(f"recommend: no clustering of {widest} has a finite {criterion}")
    col = f"{criterion}_mean"
    if f"{criterion}_std" not in rows:  # one seed: no spread to read
        rows = rows.assign(**{f"{criterion}_std": np.nan})
    # a row without ``learned`` (a table written by hand) is what its family says; a row without either, a model
    said = rows["learned"] if "learned" in rows else pd.Series(np.nan, index=rows.index, dtype=object)
    family = rows["family"].ne("baseline") if "family" in rows else True
    rows = rows.assign(learned=said.where(said.notna(), family).astype(bool))
    pairs = rows.groupby(["rep", "method"]).agg(score=(col, "mean"), spread=(f"{criterion}_std", "max"),
                                                learned=("learned", "first")).reset_index()

    def rep_order(r):
        return DEFAULT_PREFERENCE.index(r) if r in DEFAULT_PREFERENCE else len(DEFAULT_PREFERENCE)

    ranked = _rank(pairs, rep_order if criterion == LABEL_FREE else (lambda r: 0))
    pick = ranked.iloc[0]
    best = ranked.sort_values("score", ascending=False).iloc[0]
    mine = rows[(rows["rep"] == pick["rep"]) & (rows["method"] == pick["method"])]
    row = mine.sort_values(col, ascending=False).iloc[0]
    ties = [f"{r.rep} {r.method}" for r in ranked[ranked["tie"]].itertuples() if (r.rep, r.method) != (pick["rep"], pick["method"])]
    labels = sorted(rows["label_column"].unique()) if criterion == "ami" else []
    what = (f"highest mean AMI over the label columns ({', '.join(labels)})" if criterion == "ami" else
            "no labels to score against, so the label-free criterion: the highest silhouette in the "
            "representation's own normalised space (mean over seeds; it favours low dimensions)")
    reason = (f"{what} on {widest} ({int(row['n_items'])} songs): {pick['rep']} with {pick['method']}, "
              f"{pick['score']:.3f}")
    if (best["rep"], best["method"]) != (pick["rep"], pick["method"]):
        reason += (f"; {best['rep']} with {best['method']} scores {best['score']:.3f}, within the seed spread (the "
                   f"larger per-label seed std of the two, an upper bound on that of their label means), so "
                   f"the simpler pair is kept")
    elif ties:
        reason += f"; {len(ties)} pair(s) tie with it within the seed spread, none simpler"
    if passed:
        reason += "; passed over: " + "; ".join(passed)
    ami = criterion == "ami"
    return {"rep": str(pick["rep"]), "method": str(pick["method"]), "k": int(row["k"]) if pd.notna(row.get("k")) else None, "song_set": str(widest),
            "n_items": int(row["n_items"]), "label_column": str(row["label_column"]) if ami else None,
            "labels": labels, "criterion": criterion,
            "score_mean": float(row[col]), "score_std": _float(row.get(f"{criterion}_std")),
            "ami_mean": float(row["ami_mean"]) if ami else None, "ami_std": _float(row.get("ami_std")) if ami else None,
            "score_text": format_pm(row[col], row.get(f"{criterion}_std")),
            "n_seeds": int(row["n_seeds"]) if "n_seeds" in row and pd.notna(row["n_seeds"]) else None,
            "ties": ties, "passed_over": passed, "reason": reason}


def _not_scored(label, rows, methods, scored_on) -> str:
    """``"artist (75 classes): not scored by agglomerative, gmm"`` (classes: the K-Means rows' k)."""
    k = rows.loc[(rows["label_column"] == label) & (rows["method"] == "kmeans"), "k"] if "k" in rows else []
    classes = f" ({int(max(k))} classes)" if len(k) and pd.notna(max(k)) else ""
    return f"{label}{classes}: not scored by " + ", ".join(m for m in methods if label not in scored_on[m])


def _float(v):
    return None if v is None or pd.isna(v) else float(v)
