"""What a user takes away: which songs go together (``clusters.csv``, one ``.m3u8`` playlist per cluster)
and each song's nearest songs (``neighbours.csv``), from the (representation, algorithm) pair the scores
recommend (``recommendation.recommend``).

One path from the table to the file: :func:`clustering` makes a written clustering with the same
function, normalisation, algorithm, k and seed as the scored row, so ``clusters.csv`` re-scored
(:func:`rescore`) gives the row's number at that seed.
"""
from __future__ import annotations

import html
import logging
import re
import string
from pathlib import Path

import numpy as np
import pandas as pd

from songspace.cache import atomic_to_csv, atomic_write_text
from songspace.config import RESULT_FILES
from songspace.evaluation import cluster, neighbours
from songspace.evaluation.metrics import NO_LABEL
from songspace.evaluation.recommendation import recommend

log = logging.getLogger(__name__)

# Markdown punctuation, backslashed; "&" and ";" are left to html.escape's entities, which a backslash would break
_MARKDOWN_PUNCTUATION = re.compile("([" + re.escape(string.punctuation.replace("&", "").replace(";", "")) + "])")


def markdown_text(text) -> str:
    """A user's string (a tag, a file name, a class) as literal text inside Markdown: ``<``, ``>`` and ``&`` as
    HTML entities, the other ASCII punctuation backslash-escaped, line breaks as spaces. "*NSYNC" stays
    "*NSYNC" and ``<b>`` stays text once rendered, in a notebook as in ``report.html``."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def song_names(tracks: pd.DataFrame) -> pd.Series:
    """Every song's name as the user sees it, indexed by ``track_id`` (str): ``display_name`` when the table
    has it, else ``artist – title`` where both are there, else the track id."""
    ids = tracks["track_id"].astype(str)
    out = pd.Series(ids.to_numpy(), index=ids.to_numpy(), dtype=object)
    if "artist" in tracks and "title" in tracks:
        a, t = tracks["artist"].astype("string"), tracks["title"].astype("string")
        both = (a.str.strip().str.len() > 0) & (t.str.strip().str.len() > 0)
        both = both.fillna(False).to_numpy()
        out[both] = (a[both] + " – " + t[both]).to_numpy()
    if "display_name" in tracks:
        d = tracks["display_name"].astype("string")
        has = (d.str.strip().str.len() > 0).fillna(False).to_numpy()
        out[has] = d[has].to_numpy()
    return out


def song_name(row) -> str:
    """The name of one tracks-table row (a dict): as :func:`song_names`."""
    return str(song_names(pd.DataFrame([{k: row.get(k) for k in ("track_id", "artist", "title", "display_name")
                                         if k in row}])).iloc[0])


def song_level(rep, songs=None) -> tuple[np.ndarray, np.ndarray]:
    """(X_song, track_ids) of a ``Representation``: window rows averaged per song, ids sorted; only the
    songs of ``songs`` (the song set of a scored row) when given."""
    X, ids = cluster.aggregate_by_song(np.asarray(rep.X, dtype=np.float64), np.asarray(rep.track_ids).astype(str))
    if songs is not None:
        keep = pd.Index(ids).isin(pd.Index(np.asarray(songs).astype(str)))
        X, ids = X[keep], ids[keep]
    return X, ids


def clustering(rep, songs, method: str, k: int | None, seed: int) -> tuple[pd.Series, np.ndarray, dict]:
    """One clustering exactly as ``scoring.evaluate_representations`` makes a row's: song level, the
    representation's own ``norm`` (``cluster.preprocess``), ``cluster.fit_predict`` with ``k`` and ``seed``.

    Returns
    -------
    labels : Series (n_songs,) int indexed by track id (-1 = DBSCAN noise).
    Xp : np.ndarray (n_songs, d) the normalised song vectors it clustered (the scored geometry).
    info : ``fit_predict``'s info plus ``norm``.
    """
    X, ids = song_level(rep, songs)
    Xp, pinfo = cluster.preprocess(X, None, norm=rep.norm)
    labels, info = cluster.fit_predict(Xp, method, k=k, seed=seed, standardize=False, return_info=True)
    return pd.Series(labels, index=ids), Xp, {**info, "norm": pinfo["norm"]}


def _row_of(table: pd.DataFrame, rep: str, label) -> pd.Series | None:
    """The widest K-Means row of ``rep`` in the table (against ``label``, or without labels)."""
    t = table[(table["rep"] == rep) & (table["method"] == "kmeans")
              & (table["label_column"] == (label if label else NO_LABEL))]
    return None if t.empty else t.sort_values("n_items", ascending=False).iloc[0]


def cluster_table(reps: dict, tracks: pd.DataFrame, rec: dict, table: pd.DataFrame, song_sets: dict,
                  seed: int = 0, reps_by_seed: dict | None = None) -> pd.DataFrame:
    """One row per song: its cluster under the recommended pair and under every other representation.

    Parameters
    ----------
    reps : dict name -> Representation of one seed (``seed``'s model latents and the baselines).
    tracks : tracks table (``track_id``; ``display_name`` or ``artist``/``title`` for the names).
    rec : :func:`recommendation.recommend`'s dict (rep, method, k, song_set).
    table : the summary the recommendation read (K-Means rows give every other column's song set and k).
    song_sets : name -> track ids (``compare.song_sets``).
    reps_by_seed : seed -> representations, optional: a representation absent at ``seed`` (a sweep's best
        point trained on fewer seeds) is taken, with its clustering seed, from the first seed that has it.

    Returns
    -------
    DataFrame ``track_id, name, [artist, title,] cluster, cluster_<rep>...``: ``cluster`` is
    :func:`clustering` of the recommended pair on its row's song set; ``cluster_<rep>`` K-Means of that
    representation on the widest song set of its own row, with that row's k. A song outside a column's
    song set (no audio for an audio representation, neither audio nor lyrics for any) has no cluster (<NA>).
    """
    out = pd.DataFrame({"track_id": tracks["track_id"].astype(str).to_numpy()})
    out["name"] = song_names(tracks).reindex(out["track_id"]).to_numpy()
    for c in ("artist", "title"):
        if c in tracks:
            out[c] = tracks[c].to_numpy()
    labels, _, _ = clustering(reps[rec["rep"]], song_sets[rec["song_set"]], rec["method"], rec["k"], seed)
    out["cluster"] = labels[labels >= 0].reindex(out["track_id"]).astype("Int64").array
    pool = {seed: reps, **{s: r for s, r in sorted((reps_by_seed or {}).items()) if s != seed}}
    names = sorted({n for r in pool.values() for n in r} - {rec["rep"]})
    for name in names:
        row = _row_of(table, name, rec.get("label_column"))
        if row is None or row["song_set"] not in song_sets:
            continue
        s = next(s for s, r in pool.items() if name in r)
        try:
            lab, _, _ = clustering(pool[s][name], song_sets[row["song_set"]], "kmeans", int(row["k"]), s)
        except ValueError:  # fewer songs than k on this seed's rows: the column is left out, not faked
            continue
        out[f"cluster_{name}"] = lab.reindex(out["track_id"]).astype("Int64").array
    return out


def neighbour_table(rep, songs, tracks: pd.DataFrame, n_neighbours: int = neighbours.K) -> pd.DataFrame:
    """Each song's nearest songs in the representation's own geometry (cosine distance for unit-length
    embeddings, else Euclidean, in the normalised space it is clustered in), on the songs ``songs``.

    Returns
    -------
    DataFrame ``track_id, name, rank, neighbour_id, neighbour_name, distance, metric`` with ``n_neighbours``
    rows per song (fewer in a smaller collection), rank 1 = nearest, the song itself left out.
    """
    X, ids = song_level(rep, songs)
    Xp, info = cluster.preprocess(X, None, norm=rep.norm)
    idx, dist = neighbours.nearest(Xp, info["norm"], n_neighbours)
    names = song_names(tracks)
    q, r = np.nonzero(idx >= 0)
    nb = ids[idx[q, r]]
    return pd.DataFrame({"track_id": ids[q], "name": names.reindex(ids[q]).to_numpy(), "rank": r + 1,
                         "neighbour_id": nb, "neighbour_name": names.reindex(nb).to_numpy(),
                         "distance": dist[q, r], "metric": neighbours.metric_of(info["norm"])})


def rescore_neighbours(near: pd.DataFrame, tracks: pd.DataFrame, label: str) -> float:
    """Precision of a written neighbour list (``neighbours.csv``) against a label: for each song with the label,
    the share of its listed neighbours with the label that share it, averaged over those songs. Unlike the
    tables' precision@k, same-artist neighbours count: this is the file as written."""
    y = tracks.assign(track_id=tracks["track_id"].astype(str)).set_index("track_id")[label]
    pairs = pd.DataFrame({"q": y.reindex(near["track_id"].astype(str)).to_numpy(),
                          "n": y.reindex(near["neighbour_id"].astype(str)).to_numpy(),
                          "track_id": near["track_id"].astype(str).to_numpy()}).dropna()
    if pairs.empty:
        return float("nan")
    return float((pairs["q"].astype(str) == pairs["n"].astype(str)).groupby(pairs["track_id"]).mean().mean())


def rescore(clusters: pd.DataFrame, tracks: pd.DataFrame, label: str, column: str = "cluster") -> float:
    """AMI of a written clustering (``clusters.csv``) against a label, on the songs that have both."""
    from songspace.evaluation.metrics import external_metrics

    y = tracks.assign(track_id=tracks["track_id"].astype(str)).set_index("track_id")[label]
    c = clusters.assign(track_id=clusters["track_id"].astype(str)).dropna(subset=[column])
    y = y.reindex(c["track_id"])
    has = y.notna().to_numpy()
    return float(external_metrics(y[has].to_numpy(), c[column].to_numpy()[has].astype(int))["ami"])


def seed_scores(reps_by_seed: dict, rec: dict, song_sets: dict, tracks: pd.DataFrame) -> pd.DataFrame:
    """The recommended pair clustered at every seed of its row (:func:`clustering`; a model's seed-s
    latents with clustering seed s, as scored) and each clustering's AMI against the label (:func:`rescore`).

    Returns DataFrame ``seed, ami`` (one row per seed that has the representation); its mean is the row's
    ``ami_mean`` when every song of the set has the label.
    """
    rows = []
    for s in sorted(reps_by_seed):
        rep = reps_by_seed[s].get(rec["rep"])
        if rep is None:
            continue
        labels, _, _ = clustering(rep, song_sets[rec["song_set"]], rec["method"], rec["k"], s)
        c = pd.DataFrame({"track_id": labels.index, "cluster": labels.where(labels >= 0).astype("Int64").array})
        rows.append({"seed": int(s), "ami": rescore(c, tracks, rec["label_column"])})
    return pd.DataFrame(rows, columns=["seed", "ami"])


def median_seed(scores: pd.DataFrame) -> int:
    """The seed whose AMI is the median of the row's seeds (the lower middle for an even count): the file is
    a typical clustering of the row, neither its best nor its worst."""
    order = scores.sort_values(["ami", "seed"]).reset_index(drop=True)
    median = order.loc[(len(order) - 1) // 2, "ami"]
    return int(order.loc[order["ami"] == median, "seed"].min())  # seeds that agree: the first


def write(reps: dict, tracks: pd.DataFrame, table: pd.DataFrame, song_sets: dict, out_dir, seed: int = 0,
          comparison: pd.DataFrame | None = None, processed_dir=None, audio_backend: str | None = None,
          reps_by_seed: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """Write ``clusters.csv``, ``neighbours.csv``, ``recommended.json`` and ``playlists/`` into ``out_dir``.

    The pair and its k come from :func:`recommendation.recommend` (``table`` and the algorithm
    ``comparison``). ``reps`` are ``seed``'s representations, clustered with that seed as the row's seed
    ``seed`` was. With ``reps_by_seed`` (seed -> representations, every seed of the tables) and a label, the
    pair is clustered at every seed (:func:`seed_scores`; ``ami_seeds`` in the JSON, whose mean is checked
    against the row: ``matches_row``) and the file is the median seed's clustering (:func:`median_seed`).
    ``recommended.json`` holds the recommendation, ``seed``, ``norm``, ``metric``, the row's ``ami_mean`` ±
    ``ami_std`` and ``ami_file`` (the written file re-scored against the label on the songs that have one),
    ``p_at_k_file`` (``neighbours.csv`` re-scored against it, :func:`rescore_neighbours`) beside ``p_at_k_row``
    (the tables' precision@k of the representation, same-artist neighbours left out).
    Returns (that dict plus the written ``paths``, the clusters table).
    """
    import json

    from songspace.evaluation import playlists

    out_dir = Path(out_dir)
    rec = recommend(table, comparison)
    if reps_by_seed and rec["label_column"]:
        scores = seed_scores(reps_by_seed, rec, song_sets, tracks)
        if len(scores):
            seed = median_seed(scores)
            reps = reps_by_seed[seed]
            rec.update(ami_seeds={str(r.seed): r.ami for r in scores.itertuples()},
                       matches_row=bool(len(scores) == rec.get("n_seeds")
                                        and abs(scores["ami"].mean() - rec["ami_mean"]) < 1e-9))
    clusters = cluster_table(reps, tracks, rec, table, song_sets, seed, reps_by_seed)
    songs = song_sets[rec["song_set"]]
    near = neighbour_table(reps[rec["rep"]], songs, tracks)
    norm = reps[rec["rep"]].norm
    rec.update(seed=int(seed), norm=norm, metric=neighbours.metric_of(norm),
               n_clustered=int(clusters["cluster"].notna().sum()),
               ami_file=rescore(clusters, tracks, rec["label_column"]) if rec["label_column"] else None)
    if rec["label_column"]:
        p_file = rescore_neighbours(near, tracks, rec["label_column"])
        rec.update(p_at_k_file=p_file if np.isfinite(p_file) else None, p_at_k_row=_row_precision(table, rec))
    before = _read_bytes(out_dir / RESULT_FILES["clusters"])
    paths = {"clusters": atomic_to_csv(clusters, out_dir / RESULT_FILES["clusters"]),
             "neighbours": atomic_to_csv(near, out_dir / RESULT_FILES["neighbours"])}
    _drop_stale_assigned(out_dir, before)
    tags = cluster_tags(clusters, processed_dir, audio_backend) if processed_dir and audio_backend else {}
    paths["playlists"] = playlists.write_playlists(clusters, tracks, out_dir / RESULT_FILES["playlists"], tags,
                                                   processed_dir)
    paths["recommended"] = atomic_write_text(out_dir / RESULT_FILES["recommended"],
                                             json.dumps({**rec, "tags": {str(k): v for k, v in tags.items()}},
                                                        indent=1))
    return {**rec, "paths": {k: str(v) for k, v in paths.items()}}, clusters


def _read_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _drop_stale_assigned(out_dir: Path, clusters_before: bytes | None) -> None:
    """``songspace assign``'s ``assigned.csv`` names clusters of the clustering it placed songs into: once
    ``clusters.csv`` changes, its numbers mean other songs, so it goes (with a line saying so)."""
    assigned = out_dir / RESULT_FILES["assigned"]
    if assigned.is_file() and _read_bytes(out_dir / RESULT_FILES["clusters"]) != clusters_before:
        assigned.unlink()
        log.warning("removed %s: it placed new songs into the previous clusters, which this run changed; "
                    "run songspace assign again", assigned)


def _row_precision(table: pd.DataFrame, rec: dict) -> float | None:
    """The tables' precision@k of the recommended representation against its label (the query's own artist left
    out, except for the artist label itself)."""
    col = f"p_at_{neighbours.K}_mean"
    if col not in table:
        return None
    hit = table[(table["rep"] == rec["rep"]) & (table["label_column"] == rec["label_column"])
                & (table["song_set"] == rec["song_set"])][col].dropna()
    return float(hit.iloc[0]) if len(hit) else None


def take_away_text(rec: dict) -> str:
    """Markdown: the recommended pair, why, its row's score and the written file re-scored (05 and 06)."""
    from songspace.evaluation.scoring import format_pm

    text = (f"Recommended: **{rec['rep']}** clustered by **{rec['method']}**, k = {rec['k']}, seed {rec['seed']}, "
            f"on {rec['song_set']} ({rec['reason']}).")
    if rec.get("label_column"):
        text += (f" Against **{rec['label_column']}** its row scores AMI {format_pm(rec['ami_mean'], rec['ami_std'])} "
                 f"over {rec.get('n_seeds') or '?'} seeds; `clusters.csv` re-scored against it gives "
                 f"**{rec['ami_file']:.3f}** (seed {rec['seed']}"
                 + (", the median of the seeds" if rec.get("ami_seeds") else "") + ").")
        if rec.get("ami_seeds"):
            text += (" Re-clustered at every seed by the export: mean AMI "
                     f"{np.mean(list(rec['ami_seeds'].values())):.3f}"
                     + (", the row's." if rec.get("matches_row") else ", not the row's (some songs lack the label, or "
                        "seeds differ).") )
    else:
        text += f" Silhouette {rec['score_text']} (no labels: no external score)."
    text += (f" {rec.get('n_clustered', '?')} songs have a cluster; neighbours by {rec.get('metric', '?')} distance.")
    if rec.get("p_at_k_file") is not None and np.isfinite(rec["p_at_k_file"]):
        text += (f" `neighbours.csv` re-scored: a song's listed neighbours share its {rec['label_column']} "
                 f"{rec['p_at_k_file']:.3f} of the time, same-artist neighbours included")
        row = rec.get("p_at_k_row")
        own = ("for the artist label the tables count them too" if rec["label_column"] == "artist" else
               "the tables leave the query's own artist out when there is an artist column")
        text += (f" (the tables' precision@{neighbours.K}: {row:.3f}; {own})." if row is not None and np.isfinite(row)
                 else ".")
    placed = rec.get("assign")
    if placed:
        text += (f" New songs: `songspace assign NEW --results DIR` places them by {placed['placed_by']}."
                 if placed["assignable"] else f" `songspace assign` cannot place new songs here: {placed['why']}.")
    return text


def cluster_tags(clusters: pd.DataFrame, processed_dir, backend: str = "musicnn-msd", n_tags: int = 3) -> dict:
    """The musicnn tags that set each cluster apart: largest mean tag probability of the cluster's songs
    minus that of all clustered songs with audio (a tag every song has, e.g. *rock* on a rock collection,
    does not describe one cluster).

    Parameters
    ----------
    clusters : DataFrame with ``track_id`` and ``cluster`` (``clusters.csv``).
    processed_dir : folder with ``audio_<backend>_tracks.parquet`` (``extract.extract_audio``).
    backend : a musicnn backend; any other (``descriptors``) has no tags and gives ``{}``.
    n_tags : at most this many tags per cluster, only tags above the collection's mean.

    Returns
    -------
    dict cluster -> list of tag names (``"female vocalists"``); clusters without audio are absent.
    """
    from songspace.features.saved import MUSICNN_BACKENDS, backend_path, load_backend

    if backend not in MUSICNN_BACKENDS or not backend_path(processed_dir, backend).is_file():
        return {}  # descriptors, or no audio in this collection: no tags to name
    table = load_backend(processed_dir, backend)["tracks"]
    tags = [c for c in table.columns if c.startswith("tag_")]
    songs = clusters.dropna(subset=["cluster"]).astype({"track_id": str})
    songs = songs.merge(table.astype({"track_id": str})[["track_id", *tags]], on="track_id")
    if songs.empty or not tags:
        return {}
    overall = songs[tags].mean()
    out = {}
    for cid, group in songs.groupby("cluster"):
        lift = (group[tags].mean() - overall).nlargest(n_tags)
        out[cid] = [name.removeprefix("tag_").replace("_", " ") for name in lift[lift > 0].index]
    return out


def cluster_lists(clusters: pd.DataFrame, max_clusters: int = 4, max_songs: int = 8, tags: dict | None = None) -> str:
    """Markdown: the largest clusters of ``clusters.csv`` as song lists (artist – title), with the tags
    that set each apart when ``tags`` (from :func:`cluster_tags`) has them; names as text (:func:`markdown_text`)."""
    c = clusters.dropna(subset=["cluster"])
    lines = []
    for cid, n in c["cluster"].value_counts().head(max_clusters).items():
        songs = c[c["cluster"] == cid]
        names = (songs["name"].head(max_songs).astype(str).tolist() if "name" in songs
                 else [song_name(r) for r in songs.head(max_songs).to_dict("records")])
        names = [markdown_text(n) for n in names]
        more = f" … and {n - max_songs} more" if n > max_songs else ""
        # "above the collection's": tags relative to the mean, from musicnn's 50-tag vocabulary (no "classical"
        # in it), so they set a cluster apart without saying what most of its songs are
        lifted = (f"; musicnn tags above the collection's: *{', '.join(map(markdown_text, tags[cid]))}*"
                  if tags and tags.get(cid) else "")
        lines.append(f"- **cluster {cid}** ({n} songs{lifted}): " + "; ".join(names) + more)
    return "\n".join(lines)


def neighbour_examples(neighbours: pd.DataFrame, tracks: pd.DataFrame, n_songs: int = 3, n_neighbours: int = 5) -> str:
    """Markdown: the nearest songs of the first ``n_songs`` songs (name as text, :func:`markdown_text`; distance)."""
    names = song_names(tracks)
    lines = []
    for song in neighbours["track_id"].drop_duplicates().head(n_songs):
        near = neighbours[neighbours["track_id"] == song].head(n_neighbours)
        items = [f"{markdown_text(names.get(r.neighbour_id, r.neighbour_id))} ({r.distance:.2f})"
                 for r in near.itertuples()]
        lines.append(f"- **{markdown_text(names.get(song, song))}** → " + "; ".join(items))
    return "\n".join(lines)
