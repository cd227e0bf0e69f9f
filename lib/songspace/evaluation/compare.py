"""Compare representations on equal terms (05): baselines and every run's latents, scored the same way.

``representations`` reads the runs of an index into song-level (or window-level) matrices; ``score``
clusters each one with k = number of classes of every label and scores it over seeds, on the same
songs; ``summarise`` gives mean ± std over seeds. ``window_level`` and ``own_clusters`` add the
window-level scores of window models and the clusters a clustering-native model assigns itself.

05 runs it step by step through ``comparison``: ``gather`` reads everything into a ``Comparison``, then ``score_song_sets``,
``window_vs_song``, ``compare_algorithms``, ``save``, ``take_away`` and ``map_choice``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from songspace import parallel
from songspace.evaluation import chance, metrics, scoring
from songspace.evaluation.metrics import NO_LABEL
from songspace.evaluation.representation import Representation
from songspace.training import inputs


def representations(index: pd.DataFrame, blocks: inputs.Blocks) -> dict[int, dict]:
    """Song-level latents of every run, grouped by seed: ``{seed: {rep_name: Representation}}``.

    Window-level runs (ConvVAE) keep their window rows; ``evaluate`` averages them per song.
    The multimodal VAE gives three representations: joint, audio-only and lyrics-only latents, each on
    the songs that have what it uses.
    """
    has = dict(zip(blocks.track_ids, zip(blocks.mask_audio, blocks.mask_lyrics)))
    out: dict[int, dict] = {}
    for r in index.itertuples():
        reps = out.setdefault(int(r.seed), {})
        cond = r.condition_column if isinstance(r.condition_column, str) and r.condition_column else None
        # the deterministic autoencoder is the "AE + K-Means" baseline, not one of the VAEs
        family = "baseline" if r.kind == "ae" else "model"
        # latent means keep their geometry: z-scoring would blow collapsed dimensions up to full weight
        meta = {"family": family, "kind": r.kind, "run_dir": r.run_dir, "condition_column": cond, "norm": "none"}
        if r.kind == "multimodal_vae":
            for key, rep, need in (("mu", "multimodal_joint", None), ("mu_audio", "multimodal_audio", 0),
                                   ("mu_lyrics", "multimodal_lyrics", 1)):
                Z, ids = inputs.latents(r.run_dir, key)
                keep = np.ones(len(ids), bool) if need is None else np.array([has[t][need] for t in ids])
                modality = {None: "hybrid", 0: "audio", 1: "lyrics"}[need]
                reps[rep] = Representation(Z[keep], ids[keep], modality=modality, **meta)
        else:
            Z, ids = inputs.latents(r.run_dir)
            modality = ("audio" if r.kind == "conv_vae" or r.model == "audio_window_vae"
                        else "lyrics" if r.model == "lyrics_vae" else "hybrid")
            reps[r.model] = Representation(Z, ids, modality=modality, **meta)
    return out


# Side tables (05's algorithm comparison and window-level scores, 04's sweep) leave out labels of more
# classes; the main table still scores them with K-Means. With hundreds of classes the partitions are mostly
# pairs and singletons, and those labels were most of 05's time (Emotify, 400 clips: album 229 and artist
# 138 classes took ~100 s of the algorithm table's 137 s).
SIDE_MAX_CLASSES = 50


def few_class_columns(tracks: pd.DataFrame, columns, songs) -> tuple[list[str], list[str]]:
    """(label columns of at most ``SIDE_MAX_CLASSES`` classes on ``songs``, the columns of more)."""
    on = tracks[tracks["track_id"].astype(str).isin(pd.Index(np.asarray(songs).astype(str)))]
    many = [col for col in columns if on[col].nunique() > SIDE_MAX_CLASSES]
    return [col for col in columns if col not in many], many


def _evaluate(task: tuple) -> pd.DataFrame:
    """One ``score`` task in a worker: a label's ``evaluate_representations`` on one group of representations."""
    reps, lab, columns, k, methods, seeds, n_perm = task
    df = scoring.evaluate_representations(reps, lab, columns, k=k, methods=methods, seeds=seeds, n_perm=n_perm)
    df["family"] = df["rep"].map(lambda n: reps[n].family)
    df["learned"] = df["rep"].map(lambda n: reps[n].learned)
    df["modality"] = df["rep"].map(lambda n: reps[n].modality)
    return df


def score(model_reps: dict[int, dict], baseline_reps: dict, tracks: pd.DataFrame, columns, songs,
          methods=("kmeans",), n_perm: int = 200, seeds=None, n_jobs: int = 1) -> pd.DataFrame:
    """Score baselines and model latents on the same songs, with k = number of classes of each label.

    Model representations are scored once per model seed (clustering seed = model seed), baselines once
    per seed in ``seeds`` (default: the model seeds), so every row of the mean ± std spans the same seeds.

    Parameters
    ----------
    model_reps : from ``representations``.
    baseline_reps : from ``baselines.baselines``.
    tracks : tracks table with the label columns.
    columns : label columns to score against (e.g. ``["language", "genre"]``).
    songs : array of track ids to score on (e.g. songs with audio); representations lacking some are dropped.
        Labels are scored on the songs that have a value. With no scorable label, every representation
        is clustered with k chosen by silhouette and scored by internal metrics (``label_column`` "none").

    n_jobs : int
        Worker processes (``parallel.map_ordered``; -1 = all cores): each label's baselines (one task per
        baseline) and each model seed are scored apart, and the rows come back in the order one process gives.

    Returns
    -------
    long DataFrame as ``scoring.evaluate_representations`` plus ``family``, ``learned`` (a trained model's
    latents: ``Representation.learned``) and ``modality``.
    """
    songs = pd.Index(np.asarray(songs).astype(str))
    labels = tracks[tracks["track_id"].astype(str).isin(songs)]
    seeds = list(seeds if seeds is not None else sorted(model_reps))

    skipped = []

    def covering(reps):
        keep = {}
        for name, rep in reps.items():
            ids = np.asarray(rep.track_ids).astype(str)
            sel = pd.Index(ids).isin(songs)  # hashed: np.isin took 5 s on the 120,000 window ids of 1,000 songs
            lacking = songs.nunique() - pd.unique(ids[sel]).size
            if lacking == 0:
                keep[name] = rep.rows(sel)
            else:
                skipped.append({"rep": name, "family": rep.family, "learned": rep.learned, "modality": rep.modality,
                                "status": "skipped", "n_items": len(songs),
                                "skip_reason": f"lacks {lacking} of {len(songs)} songs"})
        return keep

    scorable = []
    for col in columns:
        y = labels[col].dropna()
        k = int(y.nunique())
        if k < 2 or len(y) <= k:
            skipped.append({"label_column": col, "status": "skipped", "n_items": len(y),
                            "skip_reason": f"{k} classes on {len(y)} songs: nothing to cluster against"})
        else:
            scorable.append((col, labels.loc[y.index], k))
    if not scorable:  # no labels to score against: internal metrics, k chosen per representation
        scorable = [(NO_LABEL, labels, None)]
    tasks = []
    for col, lab, k in scorable:
        base = covering(baseline_reps)
        jobs = ([({name: rep}, seeds) for name, rep in base.items()]  # a task per baseline, a task per model seed
                + [(covering(model_reps[s]), [s]) for s in sorted(model_reps)])
        tasks += [(reps, lab, [] if col == NO_LABEL else [col], k, methods, rep_seeds, n_perm)
                  for reps, rep_seeds in jobs if reps]
    frames = list(parallel.map_ordered(_evaluate, tasks, n_jobs=n_jobs if len(tasks) > 1 else 1, progress=False))
    if skipped:  # one row per representation (and label) left out, with the reason
        frames.append(pd.DataFrame(skipped).drop_duplicates())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def own_clusters(index: pd.DataFrame, tracks: pd.DataFrame, columns, songs, n_perm: int = 100) -> pd.DataFrame:
    """Score the clusters a clustering-native model assigns itself (VaDE's ``predict``), per seed.

    A song's cluster is the most frequent one among its rows. Rows as ``score`` (``method`` "own",
    ``rep`` "<model>[own]"), on the songs of ``songs`` that the run covers; internal metrics are in
    the model's latent space. Nothing when the index has no VaDE run or there is no label.
    """
    from songspace.evaluation import cluster

    rows = []
    lab = tracks.set_index(tracks["track_id"].astype(str))
    songs = set(np.asarray(songs).astype(str))
    for r in index[index["kind"] == "vade"].itertuples():
        with np.load(Path(r.run_dir) / "latents.npz", allow_pickle=False) as z:
            mu, ids, assigned = z["mu"], z["track_ids"].astype(str), z["cluster"]
        keep = np.isin(ids, list(songs))
        Z, song_ids = cluster.aggregate_by_song(mu[keep], ids[keep])
        votes = pd.Series(assigned[keep]).groupby(ids[keep]).agg(lambda v: v.value_counts().index[0])
        labels = votes.loc[song_ids].to_numpy()
        config = json.loads((Path(r.run_dir) / "config.json").read_text())
        base = {"rep": f"{r.model}[own]", "family": "model", "learned": True, "modality": "hybrid", "norm": "none",
                "method": "own", "seed": int(r.seed), "k": int(config["model_config"]["n_clusters"]), "dim": Z.shape[1],
                "status": "ok", **metrics.internal_metrics(Z, labels, int(r.seed))}
        for col in columns:
            y = lab.loc[song_ids, col].to_numpy()
            has = pd.notna(y)
            n_classes = len(set(y[has]))
            if n_classes < 2 or has.sum() <= n_classes:  # as ``score``: nothing to cluster against
                continue
            ext = metrics.external_metrics(y[has], labels[has])
            ext.pop("degenerate_reason", None)
            rows.append({**base, "label_column": col, "n_items": int(has.sum()), **ext,
                         **chance.chance_level(y[has], labels[has], n_perm, int(r.seed))})
    return pd.DataFrame(rows)


METRICS = ["ari", "nmi", "ami", "purity", "silhouette", "calinski_harabasz", "davies_bouldin",
           "ari_chance", "nmi_chance", "ami_chance", "purity_chance", "ami_chance_p95", "n_clusters", "noise_fraction",
           "p_at_10", "p_at_10_chance"]


def summarise(long: pd.DataFrame, by=("rep", "family", "learned", "modality", "norm", "method", "label_column",
                                      "n_items", "dim", "k")) -> pd.DataFrame:
    """Mean ± std over seeds of every metric, one row per representation x method x label."""
    ok = long[long["status"] == "ok"] if "status" in long else long
    if ok.empty:
        return pd.DataFrame(columns=list(by))
    cols = [m for m in METRICS if m in ok.columns]
    return scoring.aggregate_seeds(ok, list(by), cols)


def song_sets(blocks: inputs.Blocks) -> dict[str, np.ndarray]:
    """The sets of songs to score on, by what they have: lyrics, audio, both (identical sets kept once).

    Returns
    -------
    dict name -> track ids, e.g. ``{"songs with lyrics": ..., "songs with audio": ...}``.
    """
    a, l = blocks.mask_audio, blocks.mask_lyrics
    candidates = [("songs with lyrics", l), ("songs with audio", a), ("songs with audio and lyrics", a & l)]
    out, seen = {}, []
    for name, mask in candidates:
        if mask.any() and not any(np.array_equal(mask, m) for m in seen):
            out[name] = blocks.track_ids[mask]
            seen.append(mask)
    return out


# Windows scored per run; above, an even share of random windows of every song. 5,000 rather than 20,000:
# on 108 synthetic songs (12,852 windows, 8 ConvVAE runs) the table took 6.1 s instead of 16.6 s and no
# AMI moved by more than 0.003; the shipped corpus (~1,500 windows) is scored whole either way.
WINDOW_LEVEL_MAX = 5_000


def window_level(index: pd.DataFrame, tracks: pd.DataFrame, columns, n_perm: int = 100,
                 max_windows: int = WINDOW_LEVEL_MAX) -> pd.DataFrame:
    """Score window latents (no song averaging) against the song's labels, per seed, k = number of classes.

    Windows of one song share its labels, so window-level scores mostly measure how consistently a song's
    windows land together; the song-level table is the one to compare models on. A run with more than
    ``max_windows`` windows is scored on at most ``max_windows // n_songs`` random windows of every song
    (seeded by the run's seed; ``n_items`` says how many): its cost stays flat as the collection grows
    (1,000 songs, 120,000 windows: 76 s for six runs before).
    """
    from songspace.training.batches import per_song_subset

    frames = []
    lab = tracks.set_index(tracks["track_id"].astype(str))
    for r in index.itertuples():
        Z, ids = inputs.latents(r.run_dir)
        if len(ids) > max_windows:
            per_song = max(1, max_windows // len(np.unique(ids)))
            keep = per_song_subset(np.asarray(ids).astype(str), per_song, np.random.default_rng(int(r.seed)))
            Z, ids = Z[keep], ids[keep]
        uid = np.array([f"{t}#{i}" for i, t in enumerate(ids)])
        labels = lab.loc[ids, list(columns)].reset_index(drop=True)
        labels.insert(0, "track_id", uid)
        for col in columns:
            y = labels[col].dropna()
            k = int(y.nunique())
            if k < 2:
                continue
            df = scoring.evaluate_representations({f"{r.model}[windows]": Representation(Z, uid, norm="none")},
                                                   labels.loc[y.index], [col], k=k, seeds=[int(r.seed)], n_perm=n_perm,
                                                   neighbour_k=0)
            frames.append(df.assign(family="model", learned=True, modality="audio"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def best_from_sweep(summary: pd.DataFrame, model: str, columns, seeds) -> tuple[pd.DataFrame, pd.Series | None]:
    """Runs index of the sweep configuration of ``model`` with the highest AMI averaged over ``columns``.

    The choice is made on the same songs it is later scored on, so its score is optimistic; the notebook
    says so. Returns (index with one row per seed, the chosen summary row) or (empty, None).
    """
    if summary.empty or "status" not in summary:
        return pd.DataFrame(), None
    ok = summary[(summary["status"] == "ok") & (summary["model"] == model)].copy()
    cols = [f"{c}_ami_mean" for c in columns if f"{c}_ami_mean" in ok]
    if ok.empty or not cols:
        return pd.DataFrame(), None
    ok["_score"] = ok[cols].mean(axis=1)
    best = ok.sort_values("_score", ascending=False).iloc[0]
    dirs = str(best["run_dirs"]).split(";")
    kind = "conv_vae" if model == "conv_vae" else "mlp_vae"
    index = pd.DataFrame({"model": f"best_{model}_sweep", "kind": kind, "seed": list(seeds)[: len(dirs)],
                          "run_dir": dirs, "condition_column": None})
    return index, best
