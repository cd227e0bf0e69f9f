"""What the notebooks say about their results (01, 05 and the report, 06): the headline, the best per family,
the findings text, the figures of the summary page, and tables that fit a printed page.

Everything is computed from ``representation_comparison.csv`` (05's song-level summary, one row per
song set x label column x representation x method) and the tracks table; nothing here is a fixed claim.
"""
from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from songspace.config import RESULT_FILES
from songspace.data.plan import MIN_SONGS
from songspace.data.validation import label_gap_column
from songspace.evaluation import verdicts
from songspace.evaluation.export import markdown_text
from songspace.evaluation.scoring import format_pm
from songspace.features import saved

log = logging.getLogger(__name__)

NO_LABEL = "none"
SCORED_METHODS = ("kmeans", "own")  # K-Means on every representation, a clustering model's own clusters


# ---- which rows the headline reads ----

def headline_set(table: pd.DataFrame) -> str | None:
    """The song set the headline reads: the widest one (most songs), as ``recommendation.recommend`` does."""
    if table.empty:
        return None
    return str(table.loc[table["n_items"].idxmax(), "song_set"])


def scored(table: pd.DataFrame, song_set: str | None = None) -> pd.DataFrame:
    """Rows scored against a label (K-Means and own clusters) with a finite AMI, in ``song_set``."""
    if table.empty or "ami_mean" not in table:
        return table.iloc[0:0]
    t = table[table["method"].isin(SCORED_METHODS) & (table["label_column"] != NO_LABEL)
              & np.isfinite(table["ami_mean"])]
    song_set = song_set or headline_set(table)
    t = verdicts.fair(t[t["song_set"] == song_set])  # a sweep's pick on these labels is never the headline
    # a model's own clusters have its own k (VaDE's components): compared only where K-Means has the same k
    km_k = t[t["method"] == "kmeans"].groupby("label_column")["k"].first()
    own = t["method"] == "own"
    same_k = t["k"].to_numpy() == t["label_column"].map(km_k).to_numpy()
    return t[~own | same_k]


def _best(df: pd.DataFrame, metric: str = "ami_mean"):
    df = df[np.isfinite(df[metric])]
    return None if df.empty else df.sort_values(metric, ascending=False).iloc[0]


def has_labels(table: pd.DataFrame) -> bool:
    """True when at least one label column was scored."""
    return bool(len(table)) and bool((table["label_column"] != NO_LABEL).any())


# ---- the headline ----

def _label_sentence(col: str, g: pd.DataFrame) -> str:
    best, ties = verdicts.best_and_ties(g)  # ties: not beaten by more than the noise level
    base = _best(g[g["family"] == "baseline"])
    p95 = float(best["ami_chance_p95_mean"])  # the chance level of this row's own clusters
    above = float(best["ami_mean"]) - p95
    who = f"`{best['rep']}` ({best['family']})" + (f" and {len(ties)} other representation(s) tied with it "
                                                   "within the noise level" if ties else "")
    text = (f"Against **{col}** ({int(best['n_items'])} songs, k = {int(best['k'])}), {who} cluster"
            f"{'' if ties else 's'} best, AMI {verdicts._pm(best)}: "
            + (f"{above:+.3f} over the 95th percentile of label permutations ({p95:.3f})" if above > 0 else
               f"**not above chance** (95th percentile of label permutations {p95:.3f})"))
    if base is not None and best["family"] != "baseline":
        beats = verdicts.verdict(best, base)[0] == "beats"
        text += (f", {best['ami_mean'] - base['ami_mean']:+.3f} over the best plain baseline `{base['rep']}` "
                 f"({verdicts._pm(base)}), " + ("which it beats" if beats else "a tie: no gap beyond the noise level"))
    elif not ties and (second := _best(g[g["rep"] != best["rep"]])) is not None:
        text += f", {best['ami_mean'] - second['ami_mean']:+.3f} over the next, `{second['rep']}` ({verdicts._pm(second)})"
    return text + "."


def _vae_sentence(t: pd.DataFrame) -> str:
    parts, helps = [], []
    for col, g in t.groupby("label_column", sort=True):
        model, base = _best(g[g["family"] == "model"]), _best(g[g["family"] == "baseline"])
        if model is None or base is None:
            continue
        word, gap, spread = verdicts.verdict(model, base)
        if model["ami_mean"] <= model["ami_chance_p95_mean"]:
            word = f"{word} (but does not clear chance)" if word == "beats" else word
            helps.append(False)
        else:
            helps.append(word == "beats")
        parts.append(f"on {col} the best VAE-family model `{model['rep']}` **{word}** the best baseline "
                     f"(gap {gap:+.3f}, noise level {spread:.3f})")
    if not parts:
        return "No model and baseline were both scored, so whether the VAE helps cannot be said."
    lead = ("The VAE helps" if all(helps) else "The VAE does not help" if not any(helps)
            else "The VAE helps on some labels only")
    return (f"{lead}: " + "; ".join(parts) + " (a gap counts only when larger than the noise level, the larger of "
            "the seed spread and the permutation width, and a model helps only when it also clears the permutation "
            "95th percentile).")


def headline(table: pd.DataFrame, tracks: pd.DataFrame, what) -> str:
    """Two or three sentences answering "which representation clusters these songs best, by how much".

    Parameters
    ----------
    table : ``representation_comparison.csv`` of the run.
    tracks : tracks table of the collection.
    what : ``plan.Plan`` of the collection.

    Returns
    -------
    Markdown text; without labels or scores it says what cannot be answered and why.
    """
    if table.empty:
        usable = what.n_usable  # not n_songs: a song whose files all failed has neither
        return (f"**{usable} songs** with usable audio or lyrics: too few to cluster (need "
                f"{MIN_SONGS}), so nothing was scored and no representation can be called best.")
    if not has_labels(table):
        return ("**No labels**: the collection has no label column with two or more classes, so no "
                "representation can be shown to cluster the songs better than another (internal metrics "
                "are measured in each representation's own space). Below: silhouette per representation "
                "and the sizes of the clusters of the default representation. Add a label column (genre, "
                "artist, a folder per group) to get an answer.")
    set_name = headline_set(table)
    t = scored(table, set_name)
    lines = [_label_sentence(col, g) for col, g in t.groupby("label_column", sort=True)]
    others = [s for s in table["song_set"].unique() if s != set_name]
    note = f" Scores on {', '.join(others)} are in the appendix." if others else ""
    return " ".join(lines) + " " + _vae_sentence(t) + f"\n\n*Song set: {set_name}.{note}*"


def best_per_family(table: pd.DataFrame) -> pd.DataFrame:
    """The compact table of page one: per label and family, the best representation (headline song set).

    Without labels: per family, the representation with the highest silhouette (own space, read with dim).
    """
    if table.empty:
        return pd.DataFrame()
    if not has_labels(table):
        t = table[(table["method"] == "kmeans") & (table["song_set"] == headline_set(table))]
        rows = [{"family": fam, "representation": r["rep"], "dim": int(r["dim"]), "k": int(r["k"]),
                 "silhouette": format_pm(r["silhouette_mean"], r["silhouette_std"])}
                for fam, g in t.groupby("family", sort=True) if (r := _best(g, "silhouette_mean")) is not None]
        return pd.DataFrame(rows)
    rows = []
    for (col, fam), g in scored(table).groupby(["label_column", "family"], sort=True):
        r = _best(g)
        rows.append({"label": col, "family": fam, "representation": r["rep"], "AMI": verdicts._pm(r),
                     "chance p95": round(float(r["ami_chance_p95_mean"]), 3),
                     "over chance": round(float(r["ami_mean"] - r["ami_chance_p95_mean"]), 3),
                     "songs": int(r["n_items"]), "k": int(r["k"])})
    return pd.DataFrame(rows)


# ---- the findings (05 and 06) ----

def findings(table: pd.DataFrame, tracks: pd.DataFrame, what, settings: dict, with_caveat: bool = True,
             algorithms: pd.DataFrame | None = None) -> str:
    """The findings text of 05 and 06 from the written summary table (``verdicts.findings``).

    ``with_caveat=False`` leaves out the size caveat (:func:`caveat`), for a report that shows it
    in a section of its own. ``algorithms``: the algorithm comparison (``cluster_comparison.csv``), for the
    VAE-against-baseline verdicts under the other clustering algorithms.
    """
    summaries = {k: g for k, g in table.groupby("song_set", sort=False)} if len(table) else {}
    by_algorithm = ({k: g for k, g in algorithms.groupby("song_set", sort=False)}
                    if algorithms is not None and len(algorithms) else None)
    backends = settings["lyrics_backends"] if what.has_lyrics else []
    default = settings["lyrics_backend"] if what.has_lyrics else None
    return verdicts.findings(summaries, _classes_as_text(tracks, what.labels), what.labels, backends, default,
                             caveat=with_caveat, algorithms=by_algorithm)


def caveat(tracks: pd.DataFrame, what) -> str:
    """What can and cannot be concluded at this size (``verdicts.small_data_caveat``)."""
    return verdicts.small_data_caveat(len(tracks), int(tracks["has_audio"].sum()), _classes_as_text(tracks, what.labels),
                                      what.labels)


def _classes_as_text(tracks: pd.DataFrame, columns) -> pd.DataFrame:
    """``tracks`` with the values of the label ``columns`` as Markdown text (``export.markdown_text``): the
    sentences name classes, which are the user's tags or folder names."""
    return tracks.assign(**{c: tracks[c].map(markdown_text, na_action="ignore") for c in columns if c in tracks})


# ---- tables that fit the page ----

APPENDIX_COLUMNS = ("song_set", "label_column", "rep", "family", "method", "norm", "dim", "k", "n_items")
APPENDIX_METRICS = ("ami", "nmi", "ari", "purity", "silhouette", "p_at_10", "p_at_10_chance")


def appendix_table(table: pd.DataFrame) -> pd.DataFrame:
    """The full results, readable: chosen columns, "mean ± std" strings, the chance p95, no index."""
    if table.empty:
        return table
    metrics = APPENDIX_METRICS if has_labels(table) else ("silhouette",)
    out = verdicts.format_table(table, metrics=metrics)
    out = out[[c for c in (*APPENDIX_COLUMNS, *metrics) if c in out]]
    if has_labels(table) and "ami_chance_p95_mean" in table:
        # a row is its song set, label, representation, method and k: a model's own clusters come at several k
        key = [c for c in ("song_set", "label_column", "rep", "method", "norm", "dim", "k") if c in out]
        p95 = table.set_index(key)["ami_chance_p95_mean"].round(3)
        if not p95.index.is_unique:
            raise ValueError(f"appendix: rows not told apart by {key}")
        out.insert(out.columns.get_loc("ami") + 1, "AMI p95 chance", [p95.get(tuple(r), np.nan) for r in out[key].to_numpy()])
    return out.rename(columns={"label_column": "label", "rep": "representation", "n_items": "songs"})


def html_table(df: pd.DataFrame, wide: bool | None = None, caption: str | None = None, max_rows: int | None = None) -> str:
    """An HTML table for the report: no index, numbers rounded to 3 decimals, a CSS class steering print.

    Parameters
    ----------
    df : table to show.
    wide : print on a landscape page (``class="wide"``); default when the table has more than 8 columns.
    caption : optional caption (shown above).
    max_rows : show the first ``max_rows`` rows and say how many were left out.
    """
    wide = len(df.columns) > 8 if wide is None else wide
    shown = df if max_rows is None else df.head(max_rows)
    body = shown.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="–", border=0,
                         classes="ss-table")
    cap = f"<p class='ss-caption'>{html.escape(caption)}</p>" if caption else ""
    more = (f"<p class='ss-caption'>… {len(df) - len(shown)} more rows in the CSV.</p>"
            if len(shown) < len(df) else "")
    return f"<div class='ss-table-wrap{' wide' if wide else ''}'>{cap}{body}{more}</div>"


# ---- the data, in a line ----

def data_table(tracks: pd.DataFrame, what) -> pd.DataFrame:
    """One small table: songs with audio / lyrics / both, and the classes of each label column."""
    rows = [{"what": "songs", "count": what.n_songs}, {"what": "with usable audio", "count": what.n_audio},
            {"what": "with usable lyrics", "count": what.n_lyrics}, {"what": "with both", "count": what.n_both}]
    for col in what.labels:
        vc = tracks[col].dropna().astype(str).value_counts()
        rows.append({"what": f"{col} classes (smallest–largest)", "count": f"{len(vc)} ({vc.min()}–{vc.max()} songs)"})
    return pd.DataFrame(rows)


SWEEP_CUTS = RESULT_FILES["sweep_budget"]  # what 04 left out of its sweep to fit the budget (results folder)


def write_sweep_cuts(cuts: list[str], results_dir) -> Path:
    """Record the sweep's budget cuts (``sweep.budget_sweep``) for the report; [] when none."""
    from songspace.cache import atomic_write_text

    return atomic_write_text(Path(results_dir) / SWEEP_CUTS, json.dumps(list(cuts)))


def run_budget_notes(runs: pd.DataFrame) -> list[str]:
    """``"<model>: <what the budget changed>"`` once per model of a runs index that the budget cut."""
    if "budget_note" not in runs:
        return []
    pairs = runs[["model", "budget_note"]].dropna().drop_duplicates().itertuples(index=False)
    return [f"{model}: {note}" for model, note in pairs if isinstance(note, str) and note]


def budget_text(runs: pd.DataFrame, results_dir=None) -> str:
    """What the training budget changed (``songspace.training.budget``), as Markdown; empty when nothing was cut.

    ``runs``' own notes (02's and 03's notebooks), and with ``results_dir`` also what 04's sweep cut (the report).
    """
    notes = run_budget_notes(runs)
    cuts = Path(results_dir) / SWEEP_CUTS if results_dir is not None else None
    if cuts is not None and cuts.is_file():
        notes += [f"sweep: {c}" for c in json.loads(cuts.read_text())]
    if not notes:
        return ""
    return ("**Training budget.** To keep the cost linear in songs on this collection, training was thinned:\n\n"
            + "\n".join(f"- {n}." for n in notes))


def validation_line(validation: pd.DataFrame) -> str:
    """The validation report in one sentence: file problems per kind, then the songs without a label's value
    (``missing_label`` rows, one per song and column: on an untagged library they would bury the files')."""
    if validation.empty:
        return "Validation found no problem with any file."
    gaps = validation[validation["problem"] == "missing_label"]
    files = validation[validation["problem"] != "missing_label"]
    if files.empty:
        line = "Validation found no problem with any file."
    else:
        counts = files.groupby(["problem", "modality"]).size().sort_values(ascending=False)
        line = (f"Validation: {len(files)} file problem(s): " + "; ".join(f"{n} × {p} ({m})" for (p, m), n in counts.items())
                + ". A song with a bad file is kept and only left out of what needs that modality "
                "(details in `validation.csv` and, for audio that failed to decode, `audio_failures.csv`).")
    if len(gaps):
        per = gaps["detail"].map(label_gap_column).fillna("?").value_counts(sort=False)
        line += (" Songs without a value, scored without that label: "
                 + ", ".join(f"{col} {n}" for col, n in per.items()) + ".")
    return line


def log_mel_params(processed_dir, profile_audio: dict | None = None) -> dict:
    """sr, hop_length, n_mels, fmin, fmax of the log-mel patches, from 01's ``features.json`` (else the profile)."""
    p = {**(profile_audio or {}), **saved.read_meta(processed_dir).get("params", {})}
    p.setdefault("hop_length", 512)
    return {k: p.get(k) for k in ("sr", "hop_length", "n_mels", "fmin", "fmax")}


# ---- what the figures read ----

def read_maps(emb_dir, prefer=("umap", "tsne")) -> dict[str, pd.DataFrame]:
    """2-D maps written by 05 (``<rep>_<method>.parquet``): per representation, the first method of ``prefer``.

    Returns dict ``"<rep> (<method used>)"`` -> DataFrame ``track_id, x, y, cluster``.
    """
    maps, seen = {}, set()
    for method in prefer:
        for path in sorted(Path(emb_dir).glob(f"*_{method}.parquet")):
            rep = path.stem.removesuffix(f"_{method}")
            if rep in seen:
                continue
            e = pd.read_parquet(path)
            e["track_id"] = e["track_id"].astype(str)
            maps[f"{rep} ({e['method_used'].iloc[0]})"] = e
            seen.add(rep)
    return maps


def traversal(run_dir, params: dict, k: int = 4, values=np.linspace(-2.5, 2.5, 5)):
    """β-VAE latent traversal of a ConvVAE run: the ``k`` most active dimensions (``plots.most_active_dims``).

    Parameters
    ----------
    run_dir : path
        Run folder with ``checkpoint.pt`` and ``latents.npz`` (``mu``, shape (n_windows, d)).
    params : dict
        Audio parameters of the patches (sr in Hz, hop_length in samples, fmin/fmax in Hz), as
        :func:`log_mel_params` returns them: the decoded patches are drawn in seconds and Hz.
    k : int
        Most dimensions to show, one row each.
    values : array, shape (n_values,)
        Values of the moving dimension, in latent units (prior std 1), one column each.

    Returns
    -------
    (Figure, dims), or (None, []) when no dimension is active.
    """
    import torch

    from songspace.report import plots
    from songspace.training import store

    run_dir = Path(run_dir)
    model = store.load_checkpoint(run_dir / "checkpoint.pt")
    mu = np.load(run_dir / "latents.npz")["mu"]
    dims, _ = plots.most_active_dims(mu, k=k)
    if not len(dims):
        return None, []

    def decode(z):
        with torch.no_grad():
            return model.decode(torch.as_tensor(z, dtype=torch.float32)).numpy()[:, 0]

    fig = plots.latent_traversal(decode, mu.mean(0), dims, params, values, units="standardised per band")
    return fig, [int(d) for d in dims]


def extraction_report(stats: dict, processed_dir, audio_backends) -> tuple[str, list[pd.DataFrame]]:
    """What 01 shows after ``extract.extract_audio``: Markdown (the run's counts, the files that failed
    to decode, the windows and patches written) and the tables (failures, windows per song, the first
    20 track descriptors)."""
    from songspace.features import saved

    counts = {k: v for k, v in stats.items() if not hasattr(v, "shape")}
    text, tables = [f"`{counts}`"], []
    failures = saved.read_failures(processed_dir)
    if len(failures):
        text.append(f"**{len(failures)} of {stats['n_tracks']} audio files failed when decoded**: they join the "
                    "validation report (`loading.read_report`); the songs keep their lyrics.")
        tables.append(failures)
    if stats["n_ok"] and "descriptors" in audio_backends:
        feats = saved.load_audio_features(processed_dir)
        text.append(f"windows: {len(feats['windows'])} from {feats['windows']['track_id'].nunique()} songs; "
                    f"log-mel patches: {feats['logmel'].shape}")
        tables.append(feats["windows"].groupby("track_id").size().rename("windows").describe().to_frame().T)
        tables.append(feats["descriptors_tracks"].set_index("track_id").describe().T.head(20))
    return "\n\n".join(text), tables
