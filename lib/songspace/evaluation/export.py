"""What a user takes away: which songs go together (``clusters.csv``) and each song's nearest songs
(``neighbours.csv``), in the representation the scores recommend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from songspace.cache import atomic_to_csv, atomic_write_text
from songspace.config import RESULT_FILES
from songspace.evaluation import cluster
from songspace.evaluation.metrics import NO_LABEL

# Without labels nothing shows one representation best: the plain features that cover the most songs
# are the default (on the shipped corpus no VAE beat them), the models after them.
DEFAULT_PREFERENCE = ("hybrid_raw", "audio_raw", "lyrics_only", "multimodal_joint", "mlp_vae")


def chosen_on_labels(rep: str) -> bool:
    """Whether a representation was selected by its score against the labels (``best_<model>_sweep`` of
    ``compare.best_from_sweep``), so that scoring it on the same songs flatters it."""
    return rep.startswith("best_") and rep.endswith("_sweep")


def recommend(table: pd.DataFrame, method: str = "kmeans") -> dict:
    """The representation to use for clusters and neighbours, and why.

    Parameters
    ----------
    table : song-level summary of 05 (``compare.summarise`` rows with ``song_set``).

    Returns
    -------
    dict: ``rep``, ``song_set``, ``n_items``, ``label_column`` (the label it scores best on, or None),
    ``reason`` (one sentence, from the numbers).
    """
    t = table[table["method"] == method] if "method" in table else table
    if t.empty:
        raise ValueError("recommend: nothing was scored")
    widest = t.loc[t["n_items"].idxmax(), "song_set"]
    t = t[t["song_set"] == widest]
    labelled = t[t["label_column"] != NO_LABEL]
    if len(labelled) and "ami_mean" in labelled:
        # only representations scored on every label: a conditional model, never scored against its
        # condition (whose information it was built to remove), cannot win on the labels left
        n_labels = labelled["label_column"].nunique()
        complete = labelled.groupby("rep")["label_column"].nunique() == n_labels
        labelled = labelled[labelled["rep"].isin(complete[complete].index)]
        # a sweep's best configuration was picked by its AMI on these very songs: its score is optimistic
        fair = labelled[~labelled["rep"].map(chosen_on_labels)]
        labelled = fair if len(fair) else labelled
        mean = labelled.groupby("rep")["ami_mean"].mean().sort_values(ascending=False)
        rep = str(mean.index[0])
        best = labelled[labelled["rep"] == rep].sort_values("ami_mean", ascending=False).iloc[0]
        cols = sorted(labelled["label_column"].unique())
        return {"rep": rep, "song_set": widest, "n_items": int(best["n_items"]), "label_column": best["label_column"],
                "reason": (f"highest mean AMI over the label columns ({', '.join(cols)}) on {widest} "
                           f"({int(best['n_items'])} songs): {mean.iloc[0]:.3f}")}
    reps = list(t["rep"].unique())
    rep = next((r for r in DEFAULT_PREFERENCE if r in reps), reps[0])
    return {"rep": rep, "song_set": widest, "n_items": int(t["n_items"].max()), "label_column": None,
            "reason": (f"no labels to score against, so no representation can be shown best; {rep} is the "
                       f"default as plain features covering {widest}")}


def song_level(rep) -> tuple[np.ndarray, np.ndarray]:
    """(X_song, track_ids) of a ``Representation``, window rows averaged per song."""
    return cluster.aggregate_by_song(np.asarray(rep.X, dtype=np.float64), np.asarray(rep.track_ids).astype(str))


def cluster_table(reps: dict, tracks: pd.DataFrame, recommended: str, k: int | None, seed: int = 0) -> pd.DataFrame:
    """One row per song: its cluster under the recommended representation and under every other.

    Parameters
    ----------
    reps : dict name -> Representation (one seed's model latents and the baselines).
    tracks : tracks table (``track_id``, ``artist``, ``title``).
    recommended : name in ``reps``.
    k : clusters per representation (None: chosen by silhouette on the recommended one, then shared).
    seed : K-Means seed.

    Returns
    -------
    DataFrame ``track_id, artist, title, cluster, cluster_<rep>...``: clusters are K-Means on the
    z-scored song-level representation, as in the scores; empty (<NA>) where a representation lacks
    the song.
    """
    out = tracks[["track_id", "artist", "title"]].copy()
    out["track_id"] = out["track_id"].astype(str)
    X, ids = song_level(reps[recommended])
    if k is None:
        k, _ = cluster.choose_k(X, "kmeans", seed=seed)
    k = int(min(k, len(ids) - 1))
    for name in [recommended] + sorted(n for n in reps if n != recommended):
        Xn, idn = song_level(reps[name])
        if len(idn) <= k:
            continue
        labels = cluster.fit_predict(Xn, "kmeans", k=k, seed=seed)
        col = pd.Series(labels, index=idn).reindex(out["track_id"]).astype("Int64")
        out["cluster" if name == recommended else f"cluster_{name}"] = col.array
    return out


def neighbour_table(rep, tracks: pd.DataFrame, n_neighbours: int = 10) -> pd.DataFrame:
    """Each song's nearest songs (Euclidean, in the z-scored song-level space the clusters use).

    Returns
    -------
    DataFrame ``track_id, rank, neighbour_id, neighbour_artist, neighbour_title, distance`` with
    ``n_neighbours`` rows per song (fewer in a smaller collection), rank 1 = nearest, the song itself left out.
    """
    X, ids = song_level(rep)
    Xp, _ = cluster.preprocess(X)
    n = min(n_neighbours + 1, len(ids))
    dist, idx = NearestNeighbors(n_neighbors=n).fit(Xp).kneighbors(Xp)
    meta = tracks.assign(track_id=tracks["track_id"].astype(str)).set_index("track_id")
    rows = []
    for i, song in enumerate(ids):
        others = [(j, d) for j, d in zip(idx[i], dist[i]) if j != i][:n_neighbours]
        for rank, (j, d) in enumerate(others, start=1):
            rows.append({"track_id": song, "rank": rank, "neighbour_id": ids[j],
                         "neighbour_artist": meta.at[ids[j], "artist"], "neighbour_title": meta.at[ids[j], "title"],
                         "distance": float(d)})
    return pd.DataFrame(rows)


def write(reps: dict, tracks: pd.DataFrame, table: pd.DataFrame, out_dir, seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """Write ``clusters.csv``, ``neighbours.csv`` and ``recommended.json`` into ``out_dir`` atomically.

    k is the number of classes of the label the recommended representation scores best on (no label:
    chosen by silhouette). Returns the recommendation dict (plus ``k`` and the written paths) and the
    clusters table that was written.
    """
    import json

    out_dir = Path(out_dir)
    rec = recommend(table)
    col = rec["label_column"]
    k = int(tracks[col].dropna().nunique()) if col else None
    clusters = cluster_table(reps, tracks, rec["rep"], k, seed)
    rec["k"] = int(clusters["cluster"].nunique()) if "cluster" in clusters else k
    neighbours = neighbour_table(reps[rec["rep"]], tracks)
    paths = {"clusters": atomic_to_csv(clusters, out_dir / RESULT_FILES["clusters"]),
             "neighbours": atomic_to_csv(neighbours, out_dir / RESULT_FILES["neighbours"])}
    paths["recommended"] = atomic_write_text(out_dir / RESULT_FILES["recommended"], json.dumps(rec, indent=1))
    return {**rec, "paths": {k: str(v) for k, v in paths.items()}}, clusters


def song_name(row) -> str:
    """``artist – title`` (or the title, or the id) of a tracks-table row."""
    artist, title = row.get("artist"), row.get("title")
    if isinstance(artist, str) and artist.strip():
        return f"{artist} – {title if isinstance(title, str) else row['track_id']}"
    return title if isinstance(title, str) and title.strip() else str(row["track_id"])


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
    that set each apart when ``tags`` (from :func:`cluster_tags`) has them."""
    c = clusters.dropna(subset=["cluster"])
    lines = []
    for cid, n in c["cluster"].value_counts().head(max_clusters).items():
        songs = c[c["cluster"] == cid]
        names = [song_name(r) for r in songs.head(max_songs).to_dict("records")]
        more = f" … and {n - max_songs} more" if n > max_songs else ""
        mostly = f"; mostly *{', '.join(tags[cid])}*" if tags and tags.get(cid) else ""
        lines.append(f"- **cluster {cid}** ({n} songs{mostly}): " + "; ".join(names) + more)
    return "\n".join(lines)


def neighbour_examples(neighbours: pd.DataFrame, tracks: pd.DataFrame, n_songs: int = 3, n_neighbours: int = 5) -> str:
    """Markdown: the nearest songs of the first ``n_songs`` songs (artist – title, distance)."""
    meta = tracks.assign(track_id=tracks["track_id"].astype(str)).set_index("track_id")
    lines = []
    for song in neighbours["track_id"].drop_duplicates().head(n_songs):
        near = neighbours[neighbours["track_id"] == song].head(n_neighbours)
        who = song_name({**meta.loc[song].to_dict(), "track_id": song})
        items = [f"{song_name({'artist': r.neighbour_artist, 'title': r.neighbour_title, 'track_id': r.neighbour_id})}"
                 f" ({r.distance:.2f})" for r in near.itertuples()]
        lines.append(f"- **{who}** → " + "; ".join(items))
    return "\n".join(lines)
