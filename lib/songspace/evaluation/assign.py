"""New songs placed into the recommended clustering without re-running anything (``songspace assign``).

05 saves, beside ``clusters.csv``, what placing a song needs (:func:`save_state`, in
``results/assign/``): the features' parameters, the recommended pair, the collection's normalised song
vectors and clusters, the normalisation's fitted statistics and, for K-Means and GMM, the fitted
estimator. :func:`assign` extracts the same features of the new songs with those parameters (01's
``extract_audio`` / ``extract_lyrics``), normalises them the same way, places each one with the
algorithm's own ``predict`` or, for algorithms without one (agglomerative, spectral), in the cluster
whose centre (mean of its songs in the scored geometry) is nearest, and lists its nearest songs of the
collection. Nothing is trained. Only representations made of one pretrained feature backend can be placed
this way (``audio_raw``, ``audio_pca`` through its saved PCA, ``audio_<backend>``, ``lyrics_only``,
``lyrics_<backend>``): a model's latents need its encoder and the scaling of its inputs, which this does not
reproduce, and the ``tfidf`` lyrics backend is fitted on the collection's own texts; the state says so.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from songspace.cache import atomic_open, atomic_save_npz, atomic_to_csv, atomic_write_text
from songspace.config import RESULT_FILES
from songspace.evaluation import cluster, export, neighbours
from songspace.training.scaling import l2_rows

log = logging.getLogger(__name__)

STATE, VECTORS, ESTIMATOR, TRANSFORM = "state.json", "collection.npz", "estimator.joblib", "transform.joblib"


class AssignError(Exception):
    """What ``assign`` needs is missing or unusable; the message names it (one line)."""


def _norm_stats(X: np.ndarray, norm: str) -> dict:
    """What it takes to normalise new rows as ``cluster.preprocess(X, norm=norm)`` normalised the collection."""
    if norm == "zscore":
        from sklearn.preprocessing import StandardScaler

        sc = StandardScaler().fit(X)
        return {"mean": sc.mean_, "scale": sc.scale_}
    return {}


def normalise(X: np.ndarray, norm: str, stats: dict) -> np.ndarray:
    """New rows (m, d) in the collection's scored geometry (``zscore`` with the collection's mean and scale)."""
    X = np.asarray(X, dtype=np.float64)
    if norm == "zscore":
        return (X - stats["mean"]) / stats["scale"]
    if norm == "l2":
        return l2_rows(X)
    return X


def placeable(rep) -> tuple[dict | None, str | None]:
    """(the feature backend a representation is made of, ``{"modality", "backend"}``; None) when new songs
    can be placed into it: one backend's song vectors, or their fitted PCA (``rep.transform``); else
    (None, why): a model's latents, the combined block, or a backend fitted on the collection's own texts."""
    from songspace.features.lyrics import FITTED_ON_CORPUS

    if not (rep.family == "baseline" and rep.kind is None and rep.backend and rep.modality in ("audio", "lyrics")):
        return None, (f"{rep.modality or 'this'} representation is not one feature backend's song vectors (a model's "
                      "latents or a combined block): placing new songs would need its encoder")
    if rep.backend in FITTED_ON_CORPUS:
        return None, (f"the {rep.backend} backend is fitted on the collection's own texts, so a new song's vector "
                      "would be in another space: use a pretrained lyrics backend (e5, minilm) to place new songs")
    return {"modality": rep.modality, "backend": rep.backend}, None


def _dump(obj, path: Path) -> None:
    """``joblib.dump`` through a temp file and a rename: a run killed here leaves no half file to load."""
    with atomic_open(path) as f:
        joblib.dump(obj, f)


def save_state(rec: dict, rep, songs, clusters: pd.DataFrame, tracks: pd.DataFrame, settings: dict, dirs: dict) -> dict:
    """Write ``results/assign/`` for the recommended pair; returns a short record of it (``assignable``,
    ``why`` when not). ``rep`` is the recommended representation, ``songs`` its song set."""
    out = Path(dirs["assign_state"])
    out.mkdir(parents=True, exist_ok=True)
    for stale in (ESTIMATOR, TRANSFORM):
        (out / stale).unlink(missing_ok=True)
    feats, why = placeable(rep)
    if feats and rep.transform is not None:
        _dump(rep.transform, out / TRANSFORM)
    X, ids = export.song_level(rep, songs)
    Xp, _ = cluster.preprocess(X, None, norm=rep.norm)
    labels = clusters.set_index("track_id")["cluster"].reindex(ids)
    keep = labels.notna().to_numpy()
    lab = labels[keep].astype(int).to_numpy()
    ks = np.unique(lab)
    centres = np.stack([Xp[keep][lab == c].mean(0) for c in ks])
    placed_by = "nearest centre"
    est = cluster.fit_predictor(Xp, rec["method"], rec["k"], rec["seed"])
    if est is not None and keep.all() and np.array_equal(est.predict(Xp), lab):
        _dump(est, out / ESTIMATOR)
        placed_by = f"{rec['method']}.predict"
    names = export.song_names(tracks).reindex(ids).to_numpy().astype(str)
    atomic_save_npz(out / VECTORS, ids=ids.astype(str), Xp=Xp, labels=labels.fillna(-1).astype(int).to_numpy(),
                    centre_ids=ks, centres=centres, names=names, **_norm_stats(X, rep.norm))
    state = {"rep": rec["rep"], "method": rec["method"], "k": rec["k"], "seed": rec["seed"], "norm": rep.norm,
             "metric": neighbours.metric_of(rep.norm), "placed_by": placed_by, "features": feats,
             "transform": TRANSFORM if feats and rep.transform is not None else None,
             "assignable": feats is not None, "audio": settings["audio"],
             "why": None if feats else f"{rec['rep']}: {why}"}
    atomic_write_text(out / STATE, json.dumps(state, indent=1))
    return {k: state[k] for k in ("assignable", "placed_by", "why")}


def read_state(results_dir) -> tuple[dict, dict, object]:
    """(state, collection arrays, estimator or None) from ``results_dir/assign``; the arrays hold the fitted
    ``transform`` of a PCA baseline too (None otherwise). :class:`AssignError` names what is missing."""
    folder = Path(results_dir) / RESULT_FILES["assign_state"]
    for name in (STATE, VECTORS):
        if not (folder / name).is_file():
            raise AssignError(f"{folder / name}: missing; run the pipeline (make all, or notebook 05) on the "
                              "collection first")
    state = json.loads((folder / STATE).read_text())
    if not state.get("assignable"):
        raise AssignError(f"{folder / STATE}: the recommended clustering cannot place new songs: {state.get('why')}")
    with np.load(folder / VECTORS, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    est = None
    if state["placed_by"].endswith(".predict"):
        if not (folder / ESTIMATOR).is_file():
            raise AssignError(f"{folder / ESTIMATOR}: missing (the {state['method']} estimator new songs are placed with)")
        est = joblib.load(folder / ESTIMATOR)
    arrays["transform"] = None
    if state.get("transform"):
        if not (folder / TRANSFORM).is_file():
            raise AssignError(f"{folder / TRANSFORM}: missing (the fitted PCA new songs' vectors go through)")
        arrays["transform"] = joblib.load(folder / TRANSFORM)
    return state, arrays, est


def new_tracks(path) -> pd.DataFrame:
    """The songs to place: one audio file (``data.loading.load_file``: named by its tags), a folder of them, or a
    manifest (``data.loading.load_dataset``)."""
    from songspace.data import loading
    from songspace.data.collection import AUDIO_SUFFIXES

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
        return loading.load_file(path)
    return loading.load_dataset(path, allow_outside=True)


def _failures(work_dir) -> dict[str, str]:
    """track_id -> "problem: detail" of the new songs whose audio 01's extraction could not use."""
    from songspace.features import extract

    p = Path(work_dir) / extract.FAILURES
    if not p.is_file():
        return {}
    df = pd.read_csv(p, dtype={"track_id": str})
    return {r.track_id: f"{r.problem}: {r.detail}" for r in df.itertuples()}


def song_vectors(tracks: pd.DataFrame, state: dict, work_dir, n_jobs: int = 1,
                 failures_at=None) -> tuple[np.ndarray, np.ndarray]:
    """(X (n, d), ok (n,)) of the new songs: the state's feature backend, extracted with its parameters
    (``failures_at``: where the failures are reported, for ``extract.extract_audio``'s message)."""
    from songspace.features import audio, extract
    from songspace.training import inputs

    feats = state["features"]
    if feats["modality"] == "audio":
        params = audio.AudioParams(**state["audio"])
        backends = ("descriptors",) if feats["backend"] == "descriptors" else (feats["backend"],)
        extract.extract_audio(tracks, params, work_dir, n_jobs=n_jobs, cache_dir=False, progress=False,
                              audio_backends=backends, failures_at=failures_at)
        X, ok, _ = inputs.load_audio_block(tracks, work_dir, feats["backend"])
        return X, ok
    from songspace.features import lyrics

    lyrics.extract_lyrics(tracks, feats["backend"], work_dir)
    b = inputs.load_blocks(tracks, work_dir, feats["backend"], audio_backend=None)
    return b.lyrics, b.mask_lyrics


def place(Xp_new: np.ndarray, state: dict, arrays: dict, est) -> np.ndarray:
    """Cluster of each new normalised row: ``est.predict``, or the nearest cluster centre (Euclidean in the
    scored geometry, as K-Means would) when the algorithm has no predict."""
    if est is not None:
        return est.predict(Xp_new).astype(int)
    d2 = ((Xp_new[:, None, :] - arrays["centres"][None]) ** 2).sum(-1)
    return arrays["centre_ids"][d2.argmin(1)].astype(int)


def assign(new, results_dir, out=None, n_jobs: int = 1, n_neighbours: int = neighbours.K) -> tuple[pd.DataFrame, dict]:
    """Place the songs of ``new`` into the recommended clustering of ``results_dir``; write ``assigned.csv``.

    Returns
    -------
    (table, stats): one row per new song ``track_id, name, cluster, placed_by, problem,
    neighbour_1..neighbour_<n>`` (names of its nearest songs of the collection, nearest first),
    ``neighbour_ids``, ``distances`` (``;``-joined, in the state's ``metric``); stats ``n_songs``,
    ``n_placed``, ``extract_s`` (feature extraction) and ``place_s`` (everything after it), ``path``.
    """
    state, arrays, est = read_state(results_dir)
    tracks = new_tracks(new)
    path = Path(out) if out else Path(results_dir) / RESULT_FILES["assigned"]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="songspace-assign-") as work:
        X, ok = song_vectors(tracks, state, work, n_jobs, failures_at=f"the problem column of {path}")
        failed = _failures(work)  # read before the folder goes: the reasons go into assigned.csv
    t1 = time.perf_counter()
    transform = arrays["transform"]
    width = transform.n_features_in_ if transform is not None else arrays["Xp"].shape[1]
    if ok.any() and X.shape[1] != width:
        raise AssignError(f"{results_dir}: the new songs' {state['features']['backend']} vectors have {X.shape[1]} "
                          f"dimensions, the collection's {width}")
    out_rows = pd.DataFrame({"track_id": tracks["track_id"].astype(str).to_numpy(),
                             "name": export.song_names(tracks).to_numpy()})
    out_rows["cluster"] = pd.array([pd.NA] * len(out_rows), dtype="Int64")
    out_rows["placed_by"] = None
    why = {"audio": "no usable audio (missing, unreadable, too short or outside the folder)",
           "lyrics": "no usable lyrics"}[state["features"]["modality"]]
    out_rows["problem"] = np.where(ok, None, [failed.get(t, why) for t in out_rows["track_id"]])
    if ok.any():
        Xp = normalise(X[ok] if transform is None else transform.transform(np.asarray(X[ok], np.float64)),
                       state["norm"], arrays)
        out_rows.loc[ok, "cluster"] = place(Xp, state, arrays, est)
        out_rows.loc[ok, "placed_by"] = state["placed_by"]
        idx, dist = neighbours.nearest(arrays["Xp"], state["norm"], n_neighbours, Y=Xp)
        names, ids = arrays["names"], arrays["ids"]
        cols = {f"neighbour_{j + 1}": [names[i] if i >= 0 else None for i in idx[:, j]] for j in range(idx.shape[1])}
        for c, v in cols.items():
            out_rows.loc[ok, c] = v
        out_rows.loc[ok, "neighbour_ids"] = [";".join(ids[i] for i in r if i >= 0) for r in idx]
        out_rows.loc[ok, "distances"] = [";".join(f"{d:.4f}" for d in r if np.isfinite(d)) for r in dist]
    t2 = time.perf_counter()
    atomic_to_csv(out_rows, path)
    stats = {"n_songs": len(out_rows), "n_placed": int(ok.sum()), "extract_s": t1 - t0, "place_s": t2 - t1,
             "path": path, "placed_by": state["placed_by"], "rep": state["rep"], "method": state["method"]}
    log.info("placed %d of %d songs in %s %s (%s): features %.1f s, placing %.3f s", stats["n_placed"],
             stats["n_songs"], state["rep"], state["method"], state["placed_by"], stats["extract_s"], stats["place_s"])
    return out_rows, stats
