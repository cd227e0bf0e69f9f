"""Stage 05 in one record: ``gather`` reads the runs, baselines and song sets into a :class:`Comparison`;
the steps the notebook takes on it (``score_song_sets``, ``window_vs_song``, ``compare_algorithms``,
``map_choice``), the tables it saves and the take-away it exports.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from songspace.data.plan import MIN_SONGS, Plan
from songspace.evaluation import baselines
from songspace.evaluation.compare import (
    SIDE_MAX_CLASSES,
    best_from_sweep,
    few_class_columns,
    own_clusters,
    representations,
    score,
    song_sets,
    summarise,
    window_level,
)
from songspace.training import inputs

# ---------------------------------------------------------------- what 05 runs, step by step

# The models 05 compares across clustering algorithms: the main ones, the deterministic autoencoder (a baseline)
# and the sweep's best points. Every baseline of the main table is compared too (``compare_algorithms``), so a
# model meets the same best baseline under each algorithm as under K-Means.
ALGORITHM_MODELS = ("ae", "mlp_vae", "multimodal_joint", "conv_vae", "audio_window_vae", "vade", "nc_vae",
                    "best_conv_vae_sweep", "best_mlp_vae_sweep")


@dataclass
class Comparison:
    """Everything 05 compares, read once: the collection, its runs (02, 03 and the sweep's best points)
    as representations per seed, the baselines, and the sets of songs to score on.

    ``best_rows``: the sweep's chosen configuration per model (``"conv_vae"``, ``"mlp_vae"``) or None.
    ``n_jobs``: worker processes of the scoring (``compare.score``).
    """

    tracks: pd.DataFrame
    what: Plan
    blocks: inputs.Blocks
    index: pd.DataFrame
    model_reps: dict
    baseline_reps: dict
    song_sets: dict
    seeds: list
    best_rows: dict = field(default_factory=dict)
    n_jobs: int = 1

    @property
    def columns(self) -> list[str]:
        return self.what.labels

    def scorable_sets(self) -> list[str]:
        """The song sets with enough songs to cluster (``plan.MIN_SONGS``)."""
        return [name for name, songs in self.song_sets.items() if len(songs) >= MIN_SONGS]


def gather(dirs: dict, settings: dict, n_jobs: int = 1) -> Comparison:
    """Read what 01-04 wrote (``config.dataset_dirs`` paths) into a ``Comparison`` that scores on ``n_jobs``
    worker processes."""
    from songspace.data.loading import read_tracks
    from songspace.training.runs import read_index

    tracks = read_tracks(dirs["interim"], dirs["processed"])
    what = Plan.of(tracks)
    seeds = settings["seeds"]
    lyrics_backend = settings["lyrics_backend"] if what.has_lyrics else None
    blocks = inputs.load_blocks(tracks, dirs["processed"], lyrics_backend, settings["audio_backend"])
    sweep_summary = pd.read_csv(dirs["sweep_metrics"])
    best = {m: best_from_sweep(sweep_summary, m, what.labels, seeds) for m in ("conv_vae", "mlp_vae")}
    index = pd.concat([read_index(dirs["runs_mlp"], dirs["runs_conv"]), best["conv_vae"][0], best["mlp_vae"][0]],
                      ignore_index=True)
    baseline_reps = baselines.baselines(blocks, pca_dim=settings["latent_dim"])
    baseline_reps.update(baselines.extra_baselines(tracks, dirs["processed"],
                                                   settings["audio_backends"] if what.has_audio else [],
                                                   settings["lyrics_backends"] if what.has_lyrics else [],
                                                   skip=(blocks.audio_backend, lyrics_backend)))
    return Comparison(tracks, what, blocks, index, representations(index, blocks), baseline_reps, song_sets(blocks),
                      seeds, {m: row for m, (_, row) in best.items()}, n_jobs)


def score_song_sets(c: Comparison, n_perm: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """K-Means at song level on every song set (``score`` plus a model's own clusters, ``own_clusters``).

    Returns
    -------
    (long, table, notes): every row (``scores_long.csv``), the mean ± std summary with ``song_set``
    (``representation_comparison.csv``), and one sentence per song set too small to cluster.
    """
    long, summaries, notes = [], {}, []
    for set_name, songs in c.song_sets.items():
        if len(songs) < MIN_SONGS:
            notes.append(f"{set_name}: {len(songs)} songs, too few to cluster (need {MIN_SONGS}).")
            continue
        df = score(c.model_reps, c.baseline_reps, c.tracks, c.columns, songs, n_perm=n_perm, seeds=c.seeds,
                   n_jobs=c.n_jobs)
        df = pd.concat([df, own_clusters(c.index, c.tracks, c.columns, songs, n_perm)], ignore_index=True)
        df["song_set"] = set_name
        long.append(df)
        summaries[set_name] = summarise(df)
    long = (pd.concat(long, ignore_index=True) if long
            else pd.DataFrame(columns=["rep", "label_column", "status", "skip_reason"]))
    table = (pd.concat([s.assign(song_set=k) for k, s in summaries.items()], ignore_index=True) if summaries
             else pd.DataFrame(columns=["song_set", "label_column", "rep", "family", "modality", "method"]))
    return long, table, notes


def window_vs_song(c: Comparison, table: pd.DataFrame, n_perm: int) -> pd.DataFrame:
    """The ConvVAE runs scored per window beside their song-level rows (empty without labels or runs)."""
    conv_index = c.index[c.index["kind"] == "conv_vae"]
    columns = side_table_labels(c, "songs with audio")[0] if "songs with audio" in c.song_sets else c.columns
    win = window_level(conv_index, c.tracks, columns, n_perm=n_perm) if columns else pd.DataFrame()
    if not (len(win) and len(table)):
        return pd.DataFrame()
    win_summary = summarise(win).assign(level="window")
    song_level = table[table["rep"].isin(conv_index["model"]) & (table["song_set"] == "songs with audio")]
    both = pd.concat([win_summary, song_level.assign(level="song")], ignore_index=True)
    return both[["level", "rep", "label_column", "n_items", "ami_mean", "ami_std", "ami_chance_mean", "nmi_mean"]]


def side_table_labels(c: Comparison, set_name: str) -> tuple[list[str], list[str]]:
    """(labels the side tables score on a song set, labels left out for more than ``compare.SIDE_MAX_CLASSES``)."""
    return few_class_columns(c.tracks, c.columns, c.song_sets[set_name])


def compare_algorithms(c: Comparison, methods, n_perm: int) -> pd.DataFrame:
    """Every baseline and the ``ALGORITHM_MODELS`` clustered by each of ``methods`` on every song set big enough
    (``cluster_comparison.csv``); a quarter of the permutations (at least 20): it is a side table.
    Labels of more than ``compare.SIDE_MAX_CLASSES`` classes are left out (``algorithm_note`` says which)."""
    comp = []
    sub_models = {s: {k: v for k, v in reps.items() if k in ALGORITHM_MODELS} for s, reps in c.model_reps.items()}
    sub_base = dict(c.baseline_reps)
    for set_name in c.scorable_sets():
        columns, many = side_table_labels(c, set_name)
        if many and not columns:
            continue
        df = score(sub_models, sub_base, c.tracks, columns, c.song_sets[set_name], methods=methods,
                   n_perm=max(20, n_perm // 4), seeds=c.seeds, n_jobs=c.n_jobs)
        comp.append(summarise(df).assign(song_set=set_name))
    return (pd.concat(comp, ignore_index=True) if comp
            else pd.DataFrame(columns=["song_set", "label_column", "rep", "method"]))


def algorithm_note(c: Comparison) -> str:
    """Markdown: the labels the algorithm table leaves out and why ("" when none)."""
    parts = [f"{', '.join(f'`{m}`' for m in many)} on {name}" for name in c.scorable_sets()
             for many in [side_table_labels(c, name)[1]] if many]
    if not parts:
        return ""
    return (f"Left out of this table and the window-level one for more than {SIDE_MAX_CLASSES} classes: "
            f"{'; '.join(parts)} (K-Means scores them in the main table; neighbour precision is the measure "
            "for such labels).")


def map_choice(c: Comparison, take_away: dict | None) -> dict:
    """The representations 05 maps in 2-D for the report (first seed): plain features, the main models
    (the sweep's best point when there is one) and the recommended representation."""
    first = c.model_reps.get(c.seeds[0], {})
    chosen = {"lyrics_only": c.baseline_reps.get("lyrics_only"), "audio_raw": c.baseline_reps.get("audio_raw"),
              "mlp_vae": first.get("best_mlp_vae_sweep") or first.get("mlp_vae"),
              "multimodal_joint": first.get("multimodal_joint"),
              "conv_vae": first.get("best_conv_vae_sweep") or first.get("conv_vae")}
    if take_away and take_away["rep"] not in chosen:
        chosen[take_away["rep"]] = {**c.baseline_reps, **first}.get(take_away["rep"])
    # A hybrid model embeds every song, also one with neither usable audio nor lyrics (its input is all
    # imputed); no table scores such a song, so no map shows it.
    scored = np.unique(np.concatenate([np.asarray(v).astype(str) for v in c.song_sets.values()])) if c.song_sets else []
    return {name: rep.rows(np.isin(np.asarray(rep.track_ids).astype(str), scored)) if rep is not None else None
            for name, rep in chosen.items()}


def describe(c: Comparison) -> str:
    """Markdown: the collection, its song sets and seeds, what is skipped, and the sweep's chosen points."""
    text = (f"{c.what.describe()} Song sets: " + ", ".join(f"{k} ({len(v)})" for k, v in c.song_sets.items())
            + f"; seeds {c.seeds}.\n\n" + c.what.why("external_metrics", "models"))
    for name, model in (("ConvVAE", "conv_vae"), ("MLP VAE", "mlp_vae")):
        if c.best_rows.get(model) is not None:
            text += (f"\n\nBest {name} sweep configuration (chosen on these songs, so optimistic): "
                     f"`{c.best_rows[model]['run_name']}`.")
    return text


def algorithm_pivot(comparison: pd.DataFrame, labelled: bool) -> pd.DataFrame:
    """AMI (silhouette without labels) per (song set, label, representation) x algorithm, 3 decimals. DBSCAN
    scores only the songs it does not call noise, so its cells come with ``dbscan noise`` (mean share of songs
    left out) and ``dbscan seeds`` (seeds with a score: a seed that finds one cluster has none)."""
    value = "ami_mean" if labelled else "silhouette_mean"
    index = ["song_set", "label_column", "rep"]
    out = comparison.pivot_table(index=index, columns="method", values=value).round(3)
    db = comparison[comparison["method"] == "dbscan"]
    if len(db) and "noise_fraction_mean" in db:
        d = db.set_index(index)
        out["dbscan noise"] = d["noise_fraction_mean"].reindex(out.index).round(3)
        if "n_seeds" in d and f"{value.removesuffix('_mean')}_n_nan" in d:
            scored = d["n_seeds"] - d[f"{value.removesuffix('_mean')}_n_nan"].fillna(0)
            out["dbscan seeds"] = (scored.reindex(out.index).astype("Int64").astype(str) + " of "
                                   + d["n_seeds"].reindex(out.index).astype("Int64").astype(str))
    return out


def save(dirs: dict, **tables: pd.DataFrame) -> None:
    """Write each table atomically to its ``config.RESULT_FILES`` path (``save(dirs, scores_long=long)``)."""
    from songspace.cache import atomic_to_csv

    for key, df in tables.items():
        atomic_to_csv(df, dirs[key])


def take_away(c: Comparison, table: pd.DataFrame, dirs: dict, algorithms: pd.DataFrame | None = None,
              settings: dict | None = None) -> tuple[dict | None, pd.DataFrame | None]:
    """05's take-away from the recommended (representation, algorithm) pair (its median seed): ``clusters.csv``,
    ``neighbours.csv``, ``recommended.json``, the playlists (``export.write``) and what ``songspace
    assign`` needs (``assign.save_state``, with ``settings``: the features' parameters).

    Returns (the recommendation, the clusters table); with nothing scored (None, None), and an earlier
    collection's files are removed, never left behind.
    """
    import json
    import shutil

    from songspace.cache import atomic_write_text
    from songspace.evaluation import assign, export

    if not len(table):
        for key in ("clusters", "neighbours", "recommended"):
            dirs[key].unlink(missing_ok=True)
        for key in ("playlists", "assign_state"):
            shutil.rmtree(dirs[key], ignore_errors=True)
        return None, None
    by_seed = {s: {**c.baseline_reps, **c.model_reps.get(s, {})} for s in c.seeds}
    rec, clusters = export.write(by_seed[c.seeds[0]], c.tracks, table, c.song_sets, dirs["results"], seed=c.seeds[0],
                                 comparison=algorithms, processed_dir=dirs["processed"],
                                 audio_backend=c.blocks.audio_backend, reps_by_seed=by_seed)
    if settings is not None:
        rec["assign"] = assign.save_state(rec, by_seed[rec["seed"]][rec["rep"]], c.song_sets[rec["song_set"]],
                                          clusters, c.tracks, settings, dirs)
        on_disk = json.loads(dirs["recommended"].read_text())
        atomic_write_text(dirs["recommended"], json.dumps({**on_disk, "assign": rec["assign"]}, indent=1))
    return rec, clusters
