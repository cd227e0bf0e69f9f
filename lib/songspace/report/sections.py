"""The sections of the report (06): each function takes the loaded :class:`results.Results` and returns
what its section shows, in order, for :func:`show` to display.

A section is a list of displayable objects: ``IPython.display.Markdown``/``HTML``, matplotlib figures
(shown as PNG after ``plots.setup_notebook()``) and plotly figures (shown with ``.show()``, which
embeds plotly.js once for the exported HTML). The section headings and the text around them are the
notebook's markdown cells; ``render.py`` turns the executed notebook into HTML and PDF. Nothing here
writes a file.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from IPython.display import HTML, Markdown, display

from songspace.config import MLP_FAMILY
from songspace.data import language
from songspace.evaluation import comparison, export
from songspace.features import saved
from songspace.report import plots, summary
from songspace.report.results import Results
from songspace.training import runs

TRAINING_CURVES = ("mlp_vae", "multimodal_vae", "conv_vae")  # models whose first run's curves are shown


def show(items: list) -> None:
    """Display each item of a section in order: plotly figures with ``.show()``, the rest with ``display``."""
    for item in items:
        if hasattr(item, "to_plotly_json"):
            item.show()
        else:
            display(item)


def _also_skipped(r: Results) -> str:
    return f"\n\n{r.plan.why()}" if r.plan.skipped else ""


def summary_section(r: Results) -> list:
    """The headline, then the AMI per representation and the best per family (with labels), or the
    silhouette per representation and the cluster sizes of the recommended one (without labels)."""
    table, rec = r.table, r.recommended
    out = [Markdown(summary.headline(table, r.tracks, r.plan))]
    if summary.has_labels(table):
        title = f"AMI per representation — {summary.headline_set(table)}"
        caption = "Best representation per label and family (K-Means or a model's own clusters)"
        out.append(plots.ami_summary(summary.scored(table), title=title))
        out.append(HTML(summary.html_table(summary.best_per_family(table), wide=False, caption=caption)))
    elif len(table):
        km = table[(table["method"] == "kmeans") & (table["song_set"] == summary.headline_set(table))]
        sizes = r.clusters["cluster"].value_counts() if r.clusters is not None else None
        out.append(plots.internal_summary(km, sizes, sizes_of=rec["rep"] if rec else ""))
        caption = "Highest silhouette per family (own space)"
        out.append(HTML(summary.html_table(summary.best_per_family(table), caption=caption)))
    return out


def data_section(r: Results, dataset: str) -> list:
    """The collection in a sentence (layout, validation problems, stages skipped) and its counts table."""
    line = f"Collection **{export.markdown_text(dataset)}** ({r.tracks.attrs.get('layout', '?')}). {summary.validation_line(r.validation)}"
    if detected := language.describe(r.tracks):
        line += f" {detected}"
    return [Markdown(line + _also_skipped(r)), HTML(summary.html_table(summary.data_table(r.tracks, r.plan)))]


# How the method paragraph names each model of the runs index (config.MLP_FAMILY and 03's ConvVAE).
MODEL_WORDS = {
    "mlp_vae": "an MLP VAE", "beta_vae": f"a β-VAE (β = {MLP_FAMILY['beta_vae']['beta']:g})", "ae": "an autoencoder (scored as a baseline)",
    "multimodal_vae": "a multimodal product-of-experts VAE", "lyrics_vae": "a lyrics-only VAE on the lyrics embedding alone",
    "audio_window_vae": "a window-level VAE on every 3-s patch's audio embedding",
    "vade": "VaDE (a mixture prior whose components are the clusters)",
    "nc_vae": "a neighbour-consistency VAE (a song's posterior mean pulled towards one of its "
              f"{MLP_FAMILY['nc_vae']['neighbours']} nearest training songs in the input, as SCAN does)",
}


def _conv_words(r: Results) -> str:
    """What the ConvVAE of this run is, from one of its run folders' config.json."""
    conv = r.runs[r.runs["model"] == "conv_vae"] if len(r.runs) else r.runs
    if not len(conv):
        return ""
    cfg_path = Path(conv["run_dir"].iloc[0]) / "config.json"
    cfg = json.loads(cfg_path.read_text())["model_config"] if cfg_path.is_file() else {}
    shape = "×".join(map(str, cfg.get("input_shape", [])[1:])) or "?"
    if cfg.get("encoder", "conv") == "conv":
        return f"The ConvVAE encodes and rebuilds log-mel patches ({shape} mel bands × frames) with convolutions."
    return (f"The ConvVAE's encoder is a linear head on `{cfg['encoder']}`'s frozen per-patch embedding (the installed "
            f"package's weights, computed once in 01); its convolutional decoder rebuilds the {shape} log-mel patch.")


def method_section(r: Results, settings: dict) -> list:
    """How the representations of this run were made, read from 01's ``features.json`` and the runs index."""
    meta = saved.read_meta(r.dirs["processed"])
    backends = meta.get("audio_backends", [])
    cap = meta.get("params", {}).get("musicnn_max_patches")
    parts = []
    if r.plan.has_audio and backends:
        music = [b for b in backends if b != "descriptors"]
        if music:
            patches = f"at most {cap} of them, evenly spaced" if cap else "all of them"
            parts.append(f"Audio is decoded once per song. `{', '.join(music)}`: musicnn's pretrained embedding (the "
                         f"200-d penultimate layer, the mean over a song's 3-s patches, {patches}); "
                         f"`{settings['audio_backend']}` is the models' audio input and the `audio_raw` baseline.")
        if "descriptors" in backends:
            parts.append("`audio_descriptors`: pooled descriptors (MFCCs with deltas, spectral shape, chroma, tempo).")
    if r.plan.has_lyrics:
        parts.append(f"Lyrics are embedded per song with `{settings['lyrics_backend']}` (long lyrics chunked and "
                     "pooled, never truncated).")
    models = list(dict.fromkeys(r.runs["model"])) if len(r.runs) else []
    words = [MODEL_WORDS.get(m) or (f"a CVAE conditioned on {m[5:]}" if m.startswith("cvae_") else None) for m in models]
    words = [w for w in words if w]
    if words:
        parts.append("Vector models trained on the blocks the collection has, standardised on training songs: "
                     + "; ".join(words) + ".")
    parts.append(_conv_words(r))
    parts.append("Embeddings are clustered as unit vectors, descriptors z-scored per column, latents and PCA outputs as "
                 "they are (the `norm` column). Validation splits are made by song. Latents (posterior means) are "
                 "averaged per song and clustered with k = number of classes of the label scored; baselines (raw "
                 "features, PCA, lyrics only, audio only, hybrid) are clustered identically on the same songs. Metrics "
                 "are means ± std over seeds, each with a permuted-label chance level.")
    return [Markdown(" ".join(p for p in parts if p))]


def budget_section(r: Results) -> list:
    """What the training budget cut (``summary.budget_text``; an empty Markdown when nothing was cut)."""
    return [Markdown(summary.budget_text(r.runs, r.dirs["results"]))]


def findings_section(r: Results, settings: dict) -> list:
    """The findings text (``summary.findings``) without the size caveat, which has a section of its own."""
    return [Markdown(summary.findings(r.table, r.tracks, r.plan, settings, with_caveat=False,
                                      algorithms=r.comparison))]


def maps_section(r: Results) -> list:
    """Static grids of the 2-D maps, coloured by the first label and by each map's own clusters."""
    if not r.maps:
        return [Markdown("No map was written (too few songs).")]
    out, meta = [], r.meta
    for color in (r.labels[:1] or []) + ["cluster"]:
        fig = plots.latent_map_grid(r.maps, meta, color=color)
        fig.suptitle(f"coloured by {color}", fontsize="small")
        out.append(fig)
    return out


def explorer_section(r: Results) -> list:
    """The interactive (plotly) map explorer: every map, coloured by the recommended clustering and each
    label, hover = the song's name and its cluster, a click plays the song from its file (the player
    under the figure; ``plots.player``); [] without maps. Its cell is tagged ``interactive``: the PDF
    leaves it out."""
    if not r.maps:
        return []
    meta, colourings = r.meta, list(r.labels)
    meta["name"] = export.song_names(r.tracks).reindex(meta.index)
    if r.recommended:  # one clustering (the recommended one) for every map
        name = f"cluster of {r.recommended['rep']}"
        meta[name] = r.clusters.set_index("track_id")["cluster"].reindex(meta.index).astype("Int64")
        colourings.insert(0, name)
    audio = plots.audio_sources(r.tracks, r.dirs["results"])
    return [plots.latent_explorer(r.maps, meta, colors=colourings or ["artist"], audio=audio),
            HTML(plots.player_html())]


def clusters_section(r: Results, settings: dict) -> list:
    """The recommended clusters as song lists (with musicnn tags, if any), nearest songs, and what each
    cluster contains per label (labels with at most 30 classes)."""
    rec, clusters = r.recommended, r.clusters
    if not rec:
        return [Markdown("No clusters were written (too few songs).")]
    tags = export.cluster_tags(clusters, r.dirs["processed"], settings["audio_backend"])  # musicnn tags, if any
    lists = sorted(r.dirs["playlists"].glob("*.m3u8")) if r.dirs["playlists"].is_dir() else []
    out = [Markdown(export.take_away_text(rec) + _retrieval_line(r) + "\n\n"
                    + export.cluster_lists(clusters, tags=tags)
                    + f"\n\nNearest songs ({rec.get('metric', 'Euclidean')} distance in the clustered space):\n\n"
                    + export.neighbour_examples(r.neighbours, r.tracks)
                    + (f"\n\nPlaylists (one per cluster, `playlists/`): {', '.join(f'`{p.name}`' for p in lists)}."
                       if lists else ""))]
    songs, meta = clusters.dropna(subset=["cluster"]), r.meta
    described = {c: meta.loc[songs["track_id"], c].to_numpy() for c in r.labels if meta[c].nunique() <= 30}
    if described:
        out.append(plots.composition_heatmaps(songs["cluster"].astype(int).to_numpy(), described,
                                              title=f"{rec['rep']}: what each cluster contains (share of the cluster)"))
    return out


def _retrieval_line(r: Results) -> str:
    """Precision@10 of the recommended representation's neighbours against each label (its table row)."""
    rec, t = r.recommended, r.table
    if "p_at_10_mean" not in t:
        return ""
    rows = t[(t["rep"] == rec["rep"]) & (t["method"] == "kmeans") & (t["song_set"] == rec["song_set"])
             & np.isfinite(t["p_at_10_mean"])]
    parts = [f"{row.label_column} {row.p_at_10_mean:.3f} (random neighbours {row.p_at_10_chance_mean:.3f})"
             if row.p_at_10_chance_mean > 0 else f"{row.label_column} not measurable (no candidate neighbour shares it)"
             for row in rows.drop_duplicates("label_column").itertuples()]
    return f" Neighbour precision@10: {'; '.join(parts)}." if parts else ""


def sweeps_section(r: Results) -> list:
    """One figure per swept model: each configuration's AMI per label (silhouette without labels),
    mean ± std over seeds, with the chance level."""
    sweep, columns = r.sweep, r.labels
    ok = sweep[sweep["status"] == "ok"] if len(sweep) else sweep
    # AMI per label when there are labels (silhouette is in metrics_summary.csv), else silhouette
    metrics = [m for m in ([f"{c}_ami" for c in columns] or ["none_silhouette"]) if f"{m}_mean" in ok]
    if not (len(ok) and metrics):
        return [Markdown("No sweep configuration ran on this collection.")]
    out = []
    for model, g in ok.groupby("model"):
        chance = {f"{c}_ami_chance": g[f"{c}_ami_chance_mean"] for c in columns if f"{c}_ami_chance_mean" in g}
        fig = plots.metric_across_runs(g.assign(**chance), metric=metrics, group="run_name")
        fig.suptitle(f"{model} sweep (error bars: std over seeds; grey ticks: chance)", fontsize="small")
        out.append(fig)
    return out


def algorithms_section(r: Results) -> list:
    """The clustering algorithms compared: AMI (silhouette without labels) per representation and algorithm."""
    if not len(r.comparison):
        return [Markdown("No clustering algorithm was compared (too few songs).")]
    value = "ami_mean" if r.labels else "silhouette_mean"
    pivot = comparison.algorithm_pivot(r.comparison, labelled=bool(r.labels))
    pivot.columns.name = None
    pivot = pivot.reset_index().rename(columns={"label_column": "label", "rep": "representation"})
    return [HTML(summary.html_table(pivot, caption=value.replace("_mean", "").upper() + " per algorithm"))]


def training_section(r: Results, settings: dict) -> list:
    """Training curves of the first run of each of :data:`TRAINING_CURVES`, then validation
    reconstructions: the ConvVAE's log-mel patches (s, Hz) and the MLP VAE's input vectors."""
    out, histories = [], runs.histories(r.runs)
    for name in TRAINING_CURVES:
        if name in histories:
            fig = plots.training_curves(histories[name])
            fig.suptitle(f"{name}: training curves", fontsize="small")
            out.append(fig)
    if (run := runs.first_run(r.runs, "conv_vae")) is not None:
        npz = np.load(run / "reconstructions.npz")
        params = summary.log_mel_params(r.dirs["processed"], settings["audio"])
        fig = plots.reconstructions_specshow(npz["x_in"][:, 0], npz["x_out"][:, 0], params, n=min(4, len(npz["x_in"])),
                                             units="standardised per band")
        fig.suptitle("ConvVAE: validation log-mel patches and their reconstructions", fontsize="small")
        out.append(fig)
    if (run := runs.first_run(r.runs, "mlp_vae")) is not None:
        npz = np.load(run / "reconstructions.npz")
        out.append(plots.reconstructions_vector(npz["x_in"], npz["x_out"], n=min(2, len(npz["x_in"]))))
    if not len(r.runs):
        out.append(Markdown("No model was trained on this collection."))
    return out


def traversal_section(r: Results, settings: dict) -> list:
    """The β-ConvVAE's latent traversal (``summary.traversal``) of its most active dimensions, or why there is none."""
    run = runs.first_run(r.runs, "conv_beta_vae")
    # the patches' sr, hop, fmin/fmax: axes in s and Hz
    params = summary.log_mel_params(r.dirs["processed"], settings["audio"])
    fig, dims = summary.traversal(run, params) if run is not None else (None, [])
    if fig is None:
        return [Markdown("No β-ConvVAE with an active latent dimension was trained on this collection.")]
    return [Markdown(f"**β-VAE latent traversal.** Dimensions {dims} (largest variance of the posterior mean over "
                     "windows); each row moves one dimension from -2.5 to +2.5 around the mean latent."), fig]


def limits_section(r: Results) -> list:
    """What can and cannot be concluded at this size (``summary.caveat``) and how the scores were made."""
    return [Markdown(summary.caveat(r.tracks, r.plan) + "\n\n"
                     "Everything above is unsupervised: labels are used only to score. The sweep's best "
                     "configurations were chosen on the same songs they are scored on, so their scores are "
                     "optimistic. A CVAE is not scored against the label it was conditioned on." + _also_skipped(r))]


def appendix_section(r: Results) -> list:
    """Every row of ``representation_comparison.csv``, readable (``summary.appendix_table``), on a wide page."""
    if not len(r.table):
        return [Markdown("Nothing was scored.")]
    return [HTML(summary.html_table(summary.appendix_table(r.table), wide=True))]
