"""Sentences written from the numbers: what the tables of 05 say, with the seed spread and chance level.

Every statement is derived from a summary table (``compare.summarise``); nothing here is a fixed
claim. Verdicts: a gap counts only when it exceeds the noise level, the larger of the two rows' seed
standard deviations and permutation widths (``noise_level``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from songspace.evaluation.scoring import format_pm


def _pm(row, m="ami"):
    return format_pm(row[f"{m}_mean"], row[f"{m}_std"])


def _best(df: pd.DataFrame, metric: str = "ami_mean"):
    df = df[np.isfinite(df[metric])]
    return None if df.empty else df.sort_values(metric, ascending=False).iloc[0]


def chosen_on_labels(rep: str) -> bool:
    """Whether a representation was selected by its score against the labels (``best_<model>_sweep`` of
    ``compare.best_from_sweep``), so that scoring it on the same songs flatters it: never a finding."""
    return rep.startswith("best_") and rep.endswith("_sweep")


def fair(df: pd.DataFrame) -> pd.DataFrame:
    """The rows a verdict may name: not a sweep's configuration chosen on these labels, and not a run of one
    seed (03's beta = 4 ConvVAE) when others have several: one seed has no spread to judge a gap by."""
    if not len(df):
        return df
    df = df[~df["rep"].map(chosen_on_labels)]
    if "n_seeds" in df and (df["n_seeds"] > 1).any():
        df = df[df["n_seeds"].fillna(2) > 1]
    return df


def best_and_ties(df: pd.DataFrame, metric: str = "ami") -> tuple[pd.Series | None, list[str]]:
    """The row with the highest ``<metric>_mean`` and the other representations it does not beat by the
    noise rule (``verdict``): a "best" with ties is a tie, and the sentence must say so."""
    best = _best(df, f"{metric}_mean")
    if best is None:
        return None, []
    rest = df[(df["rep"] != best["rep"]) & np.isfinite(df[f"{metric}_mean"])]
    ties = [r["rep"] for _, r in rest.iterrows() if verdict(best, r, metric)[0] != "beats"]
    return best, ties


def _and_ties(best, ties: list[str]) -> str:
    if not ties:
        return f"`{best['rep']}`"
    shown = ", ".join(f"`{t}`" for t in ties[:3]) + (f" and {len(ties) - 3} more" if len(ties) > 3 else "")
    return f"`{best['rep']}`, tied within the noise level with {shown}"


def format_table(summary: pd.DataFrame, metrics=("ami", "ami_chance", "nmi", "nmi_chance", "ari", "purity",
                 "purity_chance", "silhouette", "p_at_10", "p_at_10_chance")) -> pd.DataFrame:
    """The summary as a readable table: one "mean ± std" string per metric, sorted by song set and label;
    precision@10 is "n/a" where no query has a candidate of its label (albums inside artists), not 0.000."""
    if "p_at_10_chance_mean" in summary:
        summary = summary.copy()
        summary.loc[summary["p_at_10_chance_mean"] == 0, [c for c in summary if c.startswith("p_at_10")]] = np.nan
    ids = [c for c in ("song_set", "label_column", "rep", "family", "modality", "norm", "method", "dim", "n_items", "k")
           if c in summary.columns]
    out = summary[ids].copy()
    for c in ("dim", "n_items", "k"):
        if c in out:
            out[c] = out[c].astype("Int64")
    for m in metrics:
        if f"{m}_mean" in summary:
            out[m] = [format_pm(a, b) for a, b in zip(summary[f"{m}_mean"], summary[f"{m}_std"])]
    return out.sort_values([c for c in ("song_set", "label_column", "family", "rep") if c in out]).reset_index(drop=True)


def permutation_width(row: pd.Series, metric: str = "ami") -> float:
    """How far ``metric`` of ``row``'s clusters moves by luck alone: the 95th percentile of its label-permutation
    scores minus their mean (0 when the row has no chance columns, as precision@10 has no percentile)."""
    hi, mid = row.get(f"{metric}_chance_p95_mean"), row.get(f"{metric}_chance_mean")
    width = float(hi) - float(mid) if hi is not None and mid is not None else float("nan")
    # max(0, .): with nearly one song a cluster the rare high permutations pull the mean above the 95th percentile
    return max(width, 0.0) if np.isfinite(width) else 0.0


def noise_level(a: pd.Series, b: pd.Series, metric: str = "ami") -> float:
    """What a gap between rows a and b must exceed to count: the larger of their seed standard deviations and
    of their permutation widths (``permutation_width``).

    The seed std says how much training moves a score; the permutation width how much the labels' luck moves
    it at this many songs and these cluster sizes, which the seed std misses when every seed finds the same
    clusters. On a label nearly every song shares (Emotify's decade: 373 of 400 songs in one), a β-VAE's
    0.012 ± 0.002 against a PCA's 0.009 ± 0.000 cleared the seed spread, not the 0.008 permutations reach.
    """
    return float(np.nanmax([a.get(f"{metric}_std", np.nan), b.get(f"{metric}_std", np.nan),
                            permutation_width(a, metric), permutation_width(b, metric), 0.0]))


def verdict(a: pd.Series, b: pd.Series, metric: str = "ami") -> tuple[str, float, float]:
    """Compare a over b: ("beats" | "loses to" | "ties with", gap, noise) where noise = ``noise_level``."""
    gap = float(a[f"{metric}_mean"] - b[f"{metric}_mean"])
    spread = noise_level(a, b, metric)
    if gap > spread:
        return "beats", gap, spread
    if gap < -spread:
        return "loses to", gap, spread
    return "ties with", gap, spread


def gap_words(a: pd.Series, b: pd.Series, metric: str = "ami") -> str:
    """"gap +0.009 against a noise level of 0.011 (the larger seed std 0.011, permutation width 0.008)" for a
    over b."""
    gap, noise = float(a[f"{metric}_mean"] - b[f"{metric}_mean"]), noise_level(a, b, metric)
    std = float(np.nanmax([a.get(f"{metric}_std", np.nan), b.get(f"{metric}_std", np.nan), 0.0]))
    width = max(permutation_width(a, metric), permutation_width(b, metric))
    return (f"gap {gap:+.3f} against a noise level of {noise:.3f} (the larger seed std {std:.3f}, permutation "
            f"width {width:.3f})")


METHOD_WORDS = {"agglomerative": "Ward", "gmm": "Gaussian mixture", "spectral": "spectral clustering"}
# The algorithms the findings judge a VAE under besides K-Means: DBSCAN is left out, its AMI is on the songs
# it does not call noise, a different set for every representation.
OTHER_METHODS = ("agglomerative", "gmm", "spectral")


def model_and_baseline(summary: pd.DataFrame, method: str):
    """(label, best model row, best baseline row) per label column of ``summary``, both clustered by ``method``
    (``fair`` rows only; labels lacking either are skipped)."""
    s = fair(summary[summary["method"] == method])
    for col, g in s.groupby("label_column", sort=True):
        model, base = _best(g[g["family"] == "model"]), _best(g[g["family"] == "baseline"])
        if model is not None and base is not None:
            yield col, model, base


def vae_vs_baselines(summary: pd.DataFrame, song_set: str, method: str = "kmeans") -> list[str]:
    """One sentence per label column: the best model representation against the best baseline (AMI)."""
    lines = []
    for col, model, base in model_and_baseline(summary, method):
        word = verdict(model, base)[0]
        chance = float(model.get("ami_chance_p95_mean", np.nan))
        lines.append(
            f"- **{col}** ({song_set}, {int(model['n_items'])} songs, k={int(model['k'])}): the best model, "
            f"`{model['rep']}` (AMI {_pm(model)}), **{word}** the best baseline `{base['rep']}` (AMI {_pm(base)}); "
            + gap_words(model, base) + f". 95% of label permutations of the model's clusters stay below AMI {chance:.3f}."
        )
    return lines


def other_algorithms_table(summaries: dict, methods=None) -> str:
    """A Markdown table: per song set, label and algorithm of ``methods`` (default ``OTHER_METHODS``), the best
    model against the best baseline, both clustered by that algorithm, with the verdict of ``verdict``;
    "" when no algorithm has both. ``summaries``: song set -> the algorithm comparison's summary, whose chance
    levels come from a quarter of the main table's permutations (``comparison.compare_algorithms``)."""
    rows = []
    for set_name, summary in summaries.items():
        for method in methods or OTHER_METHODS:
            for col, model, base in model_and_baseline(summary, method):
                word, gap, noise = verdict(model, base)
                cells = [str(v).replace("|", "\\|") for v in (set_name, col)]  # a label may hold a pipe
                rows.append(f"| {cells[0]} | {cells[1]} | {METHOD_WORDS.get(method, method)} | `{model['rep']}` {_pm(model)} "
                            f"| `{base['rep']}` {_pm(base)} | **{word}** | {gap:+.3f} | {noise:.3f} |")
    if not rows:
        return ""
    return "\n".join(["| songs | label | algorithm | best model (AMI) | best baseline (AMI) | the model | gap | noise level |",
                      "|---|---|---|---|---|---|---|---|"] + rows)


def conv_vs_descriptors(summary: pd.DataFrame, song_set: str, method: str = "kmeans") -> list[str]:
    """One sentence per label: the ConvVAE against the pooled descriptors, the cheapest audio representation
    it has to beat to be worth its training time (AMI, the noise rule of ``verdict``)."""
    s = summary[summary["method"] == method]
    lines = []
    for col, g in s.groupby("label_column", sort=True):
        conv, desc = g[g["rep"] == "conv_vae"], g[g["rep"] == "audio_descriptors"]
        if conv.empty or desc.empty:
            continue
        word = verdict(conv.iloc[0], desc.iloc[0])[0]
        lines.append(f"- **{col}** ({song_set}): the ConvVAE (AMI {_pm(conv.iloc[0])}) **{word}** the pooled "
                     f"descriptors (AMI {_pm(desc.iloc[0])}); " + gap_words(conv.iloc[0], desc.iloc[0]) + ".")
    return lines


def own_vs_kmeans(summary: pd.DataFrame, song_set: str) -> list[str]:
    """One sentence per label: a clustering-native model's own clusters against K-Means on its latents."""
    lines = []
    own = summary[summary["method"] == "own"]
    for r in own.itertuples():
        model = r.rep.removesuffix("[own]")
        km = summary[(summary["rep"] == model) & (summary["method"] == "kmeans") & (summary["label_column"] == r.label_column)]
        if len(km):
            a, b = pd.Series(r._asdict()), km.iloc[0]
            word = verdict(a, b)[0]
            lines.append(f"- **{r.label_column}** ({song_set}): `{model}`'s own clusters (AMI {_pm(a)}) **{word}** "
                         f"K-Means on its latent means (AMI {_pm(b)}).")
    return lines


def modality_contribution(summary: pd.DataFrame, reps: dict[str, str], song_set: str, method: str = "kmeans") -> list[str]:
    """AMI of each modality's representation against each label, e.g. reps = {"lyrics": "lyrics_only", ...}."""
    lines = []
    s = summary[(summary["method"] == method) & summary["rep"].isin(reps.values())]
    for col, g in s.groupby("label_column", sort=True):
        parts = []
        for modality, rep in reps.items():
            r = g[g["rep"] == rep]
            if len(r):
                parts.append(f"{modality} `{rep}` {_pm(r.iloc[0])}")
        if parts:
            best, ties = best_and_ties(g)
            lines.append(f"- against **{col}** ({song_set}): " + "; ".join(parts)
                         + f". Most informative: {_and_ties(best, ties)}.")
    return lines


def chance_check(summary: pd.DataFrame, song_set: str = "") -> list[str]:
    """Representations whose AMI does not clear the permutation 95th percentile, per label."""
    lines = []
    s = summary[summary["method"] == "kmeans"]
    where = f" ({song_set})" if song_set else ""
    for col, g in s.groupby("label_column", sort=True):
        below = g[g["ami_mean"] <= g["ami_chance_p95_mean"]]["rep"].tolist()
        if below:
            lines.append(f"- against **{col}**{where}, {len(below)} of {len(g)} representations do not clear the "
                         f"permutation 95th percentile: {', '.join(f'`{b}`' for b in below)}.")
        else:
            lines.append(f"- against **{col}**{where}, every representation clears the permutation 95th percentile.")
    return lines


def nmi_inflation(summary: pd.DataFrame) -> list[str]:
    """How much NMI exceeds AMI at chance: why AMI is the number to read."""
    lines = []
    s = summary[summary["method"] == "kmeans"]
    for col, g in s.groupby("label_column", sort=True):
        if "nmi_chance_mean" in g:
            lines.append(f"- against **{col}** (k={int(g['k'].iloc[0])}, {int(g['n_items'].iloc[0])} songs): random "
                         f"clusters of the same sizes score NMI {g['nmi_chance_mean'].mean():.3f} but AMI "
                         f"{g['ami_chance_mean'].mean():+.3f} on average.")
    return lines


def retrieval(summary: pd.DataFrame, song_set: str, artist_filtered: bool) -> list[str]:
    """One sentence per label: the representation whose 10 nearest songs most often share the label
    (precision@10 in its own geometry), against random neighbours."""
    if "p_at_10_mean" not in summary:
        return []
    lines = []
    s = fair(summary[(summary["method"] == "kmeans") & np.isfinite(summary["p_at_10_mean"])])
    for col, g in s.groupby("label_column", sort=True):
        best, ties = best_and_ties(g, "p_at_10")
        if best is None:
            continue
        if int(best["n_items"]) - 1 <= 10:  # every other song is a neighbour: precision is chance by construction
            lines.append(f"- **{col}** ({song_set}): {int(best['n_items'])} songs, so a song's 10 nearest are all "
                         "the others and precision@10 cannot tell representations apart.")
            continue
        note = (" (songs by the query's own artist do not count)" if artist_filtered and col != "artist" else "")
        if best["p_at_10_chance_mean"] == 0:  # no query has a candidate of its class: every precision is 0
            why = (", once songs by its own artist are left out (its label lies inside the artist)" if note
                   else " (every class has one song)")
            lines.append(f"- **{col}** ({song_set}): no song has a candidate neighbour with its label{why}, so "
                         "precision@10 measures nothing here.")
            continue
        lines.append(f"- **{col}** ({song_set}): the 10 nearest songs share the label most often in "
                     f"{_and_ties(best, ties)}, precision@10 {_pm(best, 'p_at_10')} against "
                     f"{best['p_at_10_chance_mean']:.3f} for random neighbours{note}.")
    return lines


def small_data_caveat(n_songs: int, n_audio: int, tracks: pd.DataFrame, columns, max_listed: int = 12) -> str:
    """What can and cannot be concluded at this size, from the counts (per label its ``max_listed`` largest
    classes named, the rest counted)."""
    audio = tracks[tracks["has_audio"]]
    columns = [c for c in columns if c in tracks and audio[c].notna().any()]
    counts = {c: audio[c].value_counts() for c in columns}
    per = "; ".join(f"{c}: " + ", ".join(f"{k} {v}" for k, v in n.head(max_listed).items())
                    + (f" and {len(n) - max_listed} more class(es) of {int(n.iloc[max_listed:].sum())} song(s)"
                       if len(n) > max_listed else "") for c, n in counts.items())
    text = f"**{n_audio} of {n_songs}** songs have audio" + (f" ({per})" if per else "") + ". "
    if columns and n_audio:
        labelled = sorted({int(n.sum()) for n in counts.values()})  # songs with audio and a value of the label
        points = str(labelled[0]) if len(labelled) == 1 else f"{labelled[0]}-{labelled[-1]}"
        smallest = min(int(n.min()) for n in counts.values())
        text += (f"Audio-based scores rest on {points} songs (those "
                 f"with audio and a value of the label) clustered into as many groups as there are classes; the "
                 f"smallest class has {smallest} song(s), so one song changing cluster moves ARI/AMI by a large "
                 f"step when classes are small. ")
    return text + ("A score below the permutation 95th percentile, or a difference within the noise level (the "
                   "larger of the seed spread and the permutation width), is not evidence.")


# Representations compared by modality in the findings, when the run has them.
MODALITY_REPS = {"lyrics": "lyrics_only", "audio": "audio_raw", "audio descriptors": "audio_descriptors",
                 "hybrid": "hybrid_raw", "VAE (hybrid)": "mlp_vae", "window VAE (audio)": "audio_window_vae",
                 "multimodal VAE": "multimodal_joint", "VaDE": "vade", "neighbour-consistency VAE": "nc_vae"}


def findings(summaries: dict, tracks: pd.DataFrame, columns, lyrics_backends=(), default_backend=None,
             caveat: bool = True, algorithms: dict | None = None) -> str:
    """The findings section as Markdown, every sentence from the numbers of ``summaries``.

    Parameters
    ----------
    summaries : dict song set name -> summary table (``compare.summarise``).
    tracks : tracks table (counts for the caveat).
    columns : label columns scored (empty: internal metrics only).
    lyrics_backends, default_backend : lyrics embeddings compared (``lyrics_<backend>`` baselines).
    caveat : end with what can be concluded at this size (``small_data_caveat``); False for a report
        that shows it in a section of its own.
    algorithms : dict song set name -> the algorithm comparison's summary (``cluster_comparison.csv``), to
        judge the best model against the best baseline under each of ``OTHER_METHODS`` too.
    """
    n_songs, n_audio = len(tracks), int(tracks["has_audio"].sum())
    if not summaries:
        usable = int((tracks["has_audio"].astype(bool) | tracks["has_lyrics"].astype(bool)).sum())
        return (f"The collection has {usable} songs with usable audio or lyrics: too few to cluster, so nothing "
                "was scored.")
    if not columns:
        return ("### No labels\n\nThe collection has no label column with two or more classes, so no clustering can "
                "be checked against known groups. Each representation was clustered with k chosen by silhouette "
                "and scored with internal metrics (silhouette, Calinski-Harabasz, Davies-Bouldin). These are "
                "measured in each representation's own space and do not rank representations against each other. "
                "Add a label column (genre, artist, a folder per group) to the manifest to get external scores."
                + ("\n\n" + small_data_caveat(n_songs, n_audio, tracks, columns) if caveat else ""))
    text = ["### Does the VAE beat its baselines?"]
    for set_name, s in summaries.items():
        text += vae_vs_baselines(s, set_name) or [f"- {set_name}: no model and baseline to compare."]
    other = other_algorithms_table(algorithms or {})
    if other:
        text += ["", "Under the other clustering algorithms (the algorithm table's rows, the same noise rule; the pair "
                 "to use is the recommended one, whichever algorithm scores best):", "", other]
    conv = [line for set_name, s in summaries.items() for line in conv_vs_descriptors(s, set_name)]
    if conv:
        text += ["", "### Is the ConvVAE worth its time?"] + conv + [
            "", "Its grid is not swept in the default run (docs/benchmarks.md has the measurements on real audio "
            "behind that); `make all SWEEP=seed` sweeps it over the seed report's grid."]
    own = [line for set_name, s in summaries.items() for line in own_vs_kmeans(s, set_name)]
    if own:
        text += ["", "### A clustering-native VAE: its own clusters or K-Means on its latents?"] + own
    text += ["", "### What each modality contributes"]
    for set_name, s in summaries.items():
        text += modality_contribution(s, MODALITY_REPS, set_name)
    lyr = next((k for k in summaries if k == "songs with lyrics"), None)
    if lyr and len(lyrics_backends) > 1:
        text += ["", "### Lyrics embeddings compared"]
        text += modality_contribution(summaries[lyr], {b: ("lyrics_only" if b == default_backend else f"lyrics_{b}")
                                                       for b in lyrics_backends}, lyr)
    from songspace.evaluation.neighbours import artist_groups

    near = [line for set_name, s in summaries.items()
            for line in retrieval(s, set_name, artist_groups(tracks) is not None)]
    if near:
        text += ["", "### Songs like this: do the nearest songs share the label?"] + near
    text += ["", "### Chance"]
    for set_name, s in summaries.items():
        text += nmi_inflation(s) + chance_check(s, set_name)
    if caveat:
        text += ["", "### What can be concluded at this size", small_data_caveat(n_songs, n_audio, tracks, columns)]
    return "\n".join(text)
