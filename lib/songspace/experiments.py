"""The experiments the notebooks run: which models, on which inputs, over which seeds, scored how.

02/03 train the model family over seeds (``train_family``, ``train_conv``) and write an index of runs;
04 sweeps configurations (``SweepJob``); 05 turns baselines and runs into song-level representations
(``representations``) and scores them all the same way (``score``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import evaluate, represent
from .evaluate import NO_LABEL
from .cache import atomic_to_csv

# Vector models of 02_mlp_vae. ``input``: which view of the data; ``condition_column``: CVAE label
# (``family`` replaces it by the notebook's ``cvae_condition``).
# ``audio_windows``: trained on every window of every training song (20-100x more samples than one
# vector per song), a song embedded as the mean of its windows' posterior means.
# ``vade``: mixture prior whose components are the clusters, pretrained as an AE (``pretrain_epochs``).
MLP_FAMILY = {
    "mlp_vae": {"kind": "mlp_vae", "input": "hybrid", "beta": 1.0},
    "beta_vae": {"kind": "mlp_vae", "input": "hybrid", "beta": 4.0},
    "cvae_language": {"kind": "cvae", "input": "hybrid", "beta": 1.0, "condition_column": "language"},
    "ae": {"kind": "ae", "input": "hybrid", "beta": 0.0},
    "multimodal_vae": {"kind": "multimodal_vae", "input": "multimodal", "beta": 1.0},
    "lyrics_vae": {"kind": "mlp_vae", "input": "lyrics", "beta": 1.0},
    "audio_window_vae": {"kind": "mlp_vae", "input": "audio_windows", "beta": 1.0, "epochs_share": 0.2,
                         "batch_size": 128},
    "vade": {"kind": "vade", "input": "hybrid", "beta": 1.0, "pretrain_share": 0.2},
}


def family(plan, cvae_condition: str | None = "language", models=None) -> tuple[dict, dict]:
    """The vector models of ``MLP_FAMILY`` that this collection can train, and why the others cannot.

    Parameters
    ----------
    plan : ``songspace.plan.Plan`` of the collection.
    cvae_condition : label column the CVAE is conditioned on (``cvae_<column>`` in the tables).
    models : names to keep (None: all).

    Returns
    -------
    specs : dict name -> spec, ready for ``train_family``.
    skipped : dict name -> the reason, one sentence.
    """
    specs, skipped = {}, {}
    for name, spec in MLP_FAMILY.items():
        if models is not None and name not in models:
            continue
        need = {"cvae": "cvae", "multimodal_vae": "multimodal_vae", "audio_window_vae": "audio"}.get(spec["kind"], "models")
        need = {"audio_windows": "audio", "lyrics": "lyrics"}.get(spec["input"], need)
        if not plan.runs(need) or not plan.runs("models"):
            skipped[name] = plan.skipped.get("models") or plan.skipped[need]
            continue
        if spec["input"] == "lyrics" and not plan.has_audio:
            skipped[name] = "the collection has no audio, so mlp_vae already sees the lyrics alone"
            continue
        if spec["kind"] == "cvae":
            specs[f"cvae_{cvae_condition}"] = {**spec, "condition_column": cvae_condition}
        else:
            specs[name] = spec
    return specs, skipped


def _train_cfg(train_kw: dict, seed: int, beta: float):
    from .train import TrainConfig

    return TrainConfig(**{**train_kw, "seed": seed, "beta": beta, "progress": False})


def _train_job(job: dict) -> dict:
    """Train (or load) one run in a worker; module-level so joblib/Dask can pickle it.

    ``job["X"]`` is the data, or the processed folder for ConvVAE jobs: the worker then opens the
    memory-mapped patches itself instead of receiving a pickled copy.
    """
    if job.pop("keep_going", False):  # a failure becomes a row (train_sweep_runs), not the end of the map
        try:
            return _train_job(job)
        except Exception as e:  # noqa: BLE001 - reported by the caller, retried by the sweep
            return {"model": job["model"], "seed": job["seed"], "error": f"{type(e).__name__}: {e}"}
    import torch

    from .runio import run

    torch.set_num_threads(job.get("threads", 1))  # small models: one thread per worker beats two fighting
    X, ids = job["X"], job["track_ids"]
    val_fraction = job["train_kw"].get("val_fraction", 0.2)
    if isinstance(X, str):  # patch statistics from this run's own training songs
        conv = represent.conv_inputs(X, val_fraction=val_fraction, seed=job["seed"])
        X, ids = conv["X"], conv["track_ids"]
        job["model_cfg"] = {"input_shape": list(X.shape[1:]), **job["model_cfg"]}
    elif job.get("input") == "audio_windows":  # window statistics from this run's own training songs
        win = represent.window_inputs(job["processed_dir"], X.audio_backend, val_fraction, job["seed"])
        X, ids = win["X"], win["track_ids"]
        job["model_cfg"] = {**job["model_cfg"], "input_dim": int(X.shape[1])}
    elif job.get("input") == "lyrics":  # the songs with lyrics, statistics from this run's training songs
        lyr = represent.lyrics_inputs(X, val_fraction, job["seed"])
        X, ids = lyr["X"], lyr["track_ids"]
    elif isinstance(X, represent.Blocks):  # block statistics from this run's own training songs
        X = represent.model_inputs(X, val_fraction=val_fraction, seed=job["seed"])[job["input"]]
    res = run(job["kind"], job["model_cfg"], X, ids, _train_cfg(job["train_kw"], job["seed"], job["beta"]),
              job["runs_root"], cond=job.get("cond"), name=job["name"])
    return {"model": job["model"], "kind": job["kind"], "seed": job["seed"], "run_dir": str(res.run_dir),
            "condition_column": job.get("condition_column"), "best_epoch": res.best_epoch, "cached": res.cached,
            "budget_note": job.get("budget_note", "")}


def _run_jobs(jobs: list[dict], n_jobs: int, scheduler: str | None, threads: int | None = None) -> pd.DataFrame:
    from .parallel import map_tracks

    if threads is None:  # in this process alone: use the cores; in parallel workers: one thread each
        threads = (os.cpu_count() or 1) if n_jobs == 1 and not scheduler else 1
    jobs = [{**j, "threads": threads} for j in jobs]
    return pd.DataFrame(list(map_tracks(_train_job, jobs, n_jobs=n_jobs, scheduler=scheduler, desc="runs")))


def train_family(blocks: represent.Blocks, tracks: pd.DataFrame, latent_dim: int, train_kw: dict, seeds, runs_root,
                 specs: dict | None = None, hidden=(128, 64), n_jobs: int = 1, scheduler: str | None = None,
                 threads: int | None = None, processed_dir=None, n_clusters: int | None = None,
                 budget: dict | None = None) -> pd.DataFrame:
    """Train every vector model of ``specs`` once per seed (finished runs are loaded, not retrained).

    Each run standardises the blocks with statistics of its own training songs (the by-song split of
    its seed), so no validation song ever shapes its inputs.

    Parameters
    ----------
    blocks : from ``represent.load_blocks``, in the row order of ``tracks``.
    tracks : tracks table (for CVAE conditions).
    latent_dim : int
    train_kw : dict of ``TrainConfig`` fields (epochs, lr, ...).
    seeds : iterable of int
    runs_root : folder of run folders.
    n_jobs, scheduler : runs in parallel on local processes or a Dask cluster (``parallel.map_tracks``).
    processed_dir : features folder, for window-level models (``input`` ``audio_windows``).
    n_clusters : mixture components of a ``vade`` spec (default: ``default_k(tracks)``).
    budget : ``budget.Budget`` fields (the profile's ``budget``): window-level runs are thinned by windows per
        song, song-level runs by epochs, when over it; None: as configured.

    Returns
    -------
    DataFrame, one row per (model, seed): ``model``, ``kind``, ``seed``, ``run_dir``, ``condition_column``,
    ``best_epoch``, ``cached``, ``budget_note`` (what the budget changed, or empty).
    """
    if specs is None:  # the whole family; window-level models only when there is a features folder
        specs = {k: v for k, v in MLP_FAMILY.items() if v["input"] != "audio_windows" or processed_dir}
    ids = tracks["track_id"].astype(str).to_numpy()
    if not np.array_equal(ids, blocks.track_ids):
        raise ValueError("train_family: blocks and tracks are not in the same song order")
    widths = {k: B.shape[1] for k, B in represent.present_blocks(blocks).items()}
    jobs = []
    for name, spec in specs.items():
        note = None
        cond_col = spec.get("condition_column")
        cond = None
        kw = dict(train_kw)
        if spec["input"] == "multimodal":
            cfg = {"audio_dim": widths["audio"], "lyrics_dim": widths["lyrics"]}
        elif spec["input"] == "lyrics":
            cfg = {"input_dim": widths["lyrics"]}
        elif spec["input"] == "audio_windows":  # input_dim is set by the worker from the window table
            cfg = {"input_dim": widths["audio"]}
            # ~20-100 windows per song: a fifth of the epochs sees as many samples as the song models
            share = spec.get("epochs_share", 1.0)
            kw.update({k: max(1, int(round(share * kw[k]))) for k in ("epochs", "warmup_epochs", "patience") if k in kw})
            kw["batch_size"] = spec.get("batch_size", kw.get("batch_size", 64))
            if budget is not None:
                n_windows, n_songs = represent.window_counts(processed_dir, blocks.audio_backend)
                kw, note = fit_budget(kw, n_windows, n_songs, budget)
        else:
            cfg = {"input_dim": sum(widths.values())}
        if budget is not None and spec["input"] != "audio_windows":  # one row per song: only epochs can go
            n_rows = int(blocks.mask_lyrics.sum()) if spec["input"] == "lyrics" else len(ids)
            kw, note = fit_song_budget(kw, n_rows, budget)
        cfg.update(latent_dim=latent_dim, hidden=list(hidden))
        if spec["kind"] == "vade":
            cfg["n_clusters"] = int(n_clusters or default_k(tracks))
            kw["pretrain_epochs"] = max(1, int(spec.get("pretrain_share", 0.2) * kw.get("epochs", 100)))
        if cond_col:
            classes = sorted(tracks[cond_col].dropna().astype(str).unique())
            cfg.update(n_classes=len(classes), classes=classes, condition_column=cond_col)
            cond = tracks[cond_col].astype(object).where(tracks[cond_col].notna(), None).to_numpy()
        for seed in seeds:
            jobs.append({"model": name, "kind": spec["kind"], "seed": int(seed), "X": blocks, "input": spec["input"],
                         "track_ids": ids, "model_cfg": cfg, "train_kw": kw, "beta": spec["beta"],
                         "processed_dir": str(processed_dir) if processed_dir else None,
                         "cond": cond, "condition_column": cond_col, "runs_root": str(runs_root),
                         "name": f"{name}-s{seed}", "budget_note": note or ""})
    return _run_jobs(jobs, n_jobs, scheduler, threads)


def default_k(tracks: pd.DataFrame, labels=None) -> int:
    """Clusters to ask for when a model must fix them before training (VaDE): the number of classes of
    the first label column (what K-Means gets when scored against it), else round(sqrt(n / 2)) in [2, 10]."""
    from .plan import label_columns

    cols = label_columns(tracks, labels)
    if cols:
        return max(2, int(tracks[cols[0]].dropna().astype(str).nunique()))
    return int(np.clip(round(np.sqrt(len(tracks) / 2)), 2, 10))


def fit_budget(train_kw: dict, n_windows: int, n_songs: int, budget: dict) -> tuple[dict, str | None]:
    """``budget.window_training`` with the profile's budget dict: (settings, note or None)."""
    from .budget import Budget, window_training

    return window_training(train_kw, n_windows, n_songs, Budget(**budget))


def fit_song_budget(train_kw: dict, n_songs: int, budget: dict) -> tuple[dict, str | None]:
    """``budget.song_training`` with the profile's budget dict: (settings, note or None)."""
    from .budget import Budget, song_training

    return song_training(train_kw, n_songs, Budget(**budget))


def train_conv(processed_dir, model_cfg: dict, train_kw: dict, seeds, runs_root, name: str = "conv_vae",
               beta: float = 1.0, kind: str = "conv_vae", n_jobs: int = 1, scheduler: str | None = None,
               threads: int | None = None, budget: dict | None = None, extra_runs=()) -> pd.DataFrame:
    """Train a ConvVAE on the log-mel patches of ``processed_dir`` once per seed; same index as ``train_family``.

    ``budget`` (``budget.Budget`` fields): thin the windows per epoch on a large collection
    (``budget.window_training``); the index's ``budget_note`` says what changed. ``extra_runs``:
    ``(name, beta, seeds)`` of more runs of the same model (03's β-VAE), queued with these so that no
    worker idles while another trains the last one.
    """
    jobs = conv_jobs(processed_dir, model_cfg, train_kw, seeds, runs_root, name, beta, kind, budget, extra_runs)
    return _run_jobs(jobs, n_jobs, scheduler, threads)


def conv_jobs(processed_dir, model_cfg: dict, train_kw: dict, seeds, runs_root, name: str = "conv_vae",
              beta: float = 1.0, kind: str = "conv_vae", budget: dict | None = None, extra_runs=()) -> list[dict]:
    """The training jobs of :func:`train_conv`, one per run (what a worker's ``_train_job`` takes)."""
    note = None
    if budget is not None:
        train_kw, note = fit_budget(train_kw, *represent.window_counts(processed_dir), budget)
    return [{"model": run_name, "kind": kind, "seed": int(seed), "X": str(processed_dir), "track_ids": None,
             "model_cfg": dict(model_cfg), "train_kw": train_kw, "beta": run_beta, "runs_root": str(runs_root),
             "name": f"{run_name}-s{seed}", "budget_note": note or ""}
            for run_name, run_beta, run_seeds in [(name, beta, seeds), *extra_runs] for seed in run_seeds]


INDEX_COLUMNS = ["model", "kind", "seed", "run_dir", "condition_column", "best_epoch", "cached", "budget_note"]


def write_index(df: pd.DataFrame, path) -> Path:
    """Save a runs index (the artifact later notebooks read); an empty one keeps its columns."""
    return atomic_to_csv(df if len(df.columns) else pd.DataFrame(columns=INDEX_COLUMNS), path)


def read_index(*paths) -> pd.DataFrame:
    """The runs indexes written by 02/03, concatenated (missing or empty files contribute nothing)."""
    frames = [pd.read_csv(p) for p in paths if Path(p).exists()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=INDEX_COLUMNS)


def representations(index: pd.DataFrame, blocks: represent.Blocks) -> dict[int, dict]:
    """Song-level latents of every run, grouped by seed: ``{seed: {rep_name: (X, meta)}}``.

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
                Z, ids = represent.latents(r.run_dir, key)
                keep = np.ones(len(ids), bool) if need is None else np.array([has[t][need] for t in ids])
                reps[rep] = (Z[keep], {**meta, "track_ids": ids[keep],
                                       "modality": {None: "hybrid", 0: "audio", 1: "lyrics"}[need]})
        else:
            Z, ids = represent.latents(r.run_dir)
            modality = ("audio" if r.kind == "conv_vae" or r.model == "audio_window_vae"
                        else "lyrics" if r.model == "lyrics_vae" else "hybrid")
            reps[r.model] = (Z, {**meta, "track_ids": ids, "modality": modality})
    return out


def score(model_reps: dict[int, dict], baseline_reps: dict, tracks: pd.DataFrame, columns, songs,
          methods=("kmeans",), n_perm: int = 200, seeds=None) -> pd.DataFrame:
    """Score baselines and model latents on the same songs, with k = number of classes of each label.

    Model representations are scored once per model seed (clustering seed = model seed), baselines once
    per seed in ``seeds`` (default: the model seeds), so every row of the mean ± std spans the same seeds.

    Parameters
    ----------
    model_reps : from ``representations``.
    baseline_reps : from ``represent.baselines``.
    tracks : tracks table with the label columns.
    columns : label columns to score against (e.g. ``["language", "genre"]``).
    songs : array of track ids to score on (e.g. songs with audio); representations lacking some are dropped.
        Labels are scored on the songs that have a value. With no scorable label, every representation
        is clustered with k chosen by silhouette and scored by internal metrics (``label_column`` "none").

    Returns
    -------
    long DataFrame as ``evaluate.evaluate_representations`` plus ``family`` and ``modality``.
    """
    songs = pd.Index(np.asarray(songs).astype(str))
    labels = tracks[tracks["track_id"].astype(str).isin(songs)]
    seeds = list(seeds if seeds is not None else sorted(model_reps))

    skipped = []

    def covering(reps):
        keep = {}
        for name, (X, meta) in reps.items():
            ids = np.asarray(meta["track_ids"]).astype(str)
            sel = pd.Index(ids).isin(songs)  # hashed: np.isin took 5 s on the 120,000 window ids of 1,000 songs
            lacking = songs.nunique() - pd.unique(ids[sel]).size
            if lacking == 0:
                keep[name] = (np.asarray(X)[sel], {**meta, "track_ids": ids[sel]})
            else:
                skipped.append({"rep": name, "family": meta.get("family", "model"), "modality": meta.get("modality", ""),
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
    frames = []
    for col, lab, k in scorable:
        jobs = [(covering(baseline_reps), seeds)] + [(covering(model_reps[s]), [s]) for s in sorted(model_reps)]
        for reps, rep_seeds in jobs:
            if not reps:
                continue
            df = evaluate.evaluate_representations(reps, lab, [] if col == NO_LABEL else [col], k=k, methods=methods,
                                                   seeds=rep_seeds, n_perm=n_perm)
            df["family"] = df["rep"].map(lambda n: reps[n][1].get("family", "model"))
            df["modality"] = df["rep"].map(lambda n: reps[n][1].get("modality", ""))
            frames.append(df)
    if skipped:  # one row per representation (and label) left out, with the reason
        frames.append(pd.DataFrame(skipped).drop_duplicates())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def own_clusters(index: pd.DataFrame, tracks: pd.DataFrame, columns, songs, n_perm: int = 100) -> pd.DataFrame:
    """Score the clusters a clustering-native model assigns itself (VaDE's ``predict``), per seed.

    A song's cluster is the most frequent one among its rows. Rows as ``score`` (``method`` "own",
    ``rep`` "<model>[own]"), on the songs of ``songs`` that the run covers; internal metrics are in
    the model's latent space. Nothing when the index has no VaDE run or there is no label.
    """
    from . import cluster

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
        base = {"rep": f"{r.model}[own]", "family": "model", "modality": "hybrid", "norm": "none", "method": "own",
                "seed": int(r.seed), "k": int(config["model_config"]["n_clusters"]), "dim": Z.shape[1],
                "status": "ok", **evaluate.internal_metrics(Z, labels, int(r.seed))}
        for col in columns:
            y = lab.loc[song_ids, col].to_numpy()
            has = pd.notna(y)
            n_classes = len(set(y[has]))
            if n_classes < 2 or has.sum() <= n_classes:  # as ``score``: nothing to cluster against
                continue
            ext = evaluate.external_metrics(y[has], labels[has])
            ext.pop("degenerate_reason", None)
            rows.append({**base, "label_column": col, "n_items": int(has.sum()), **ext,
                         **evaluate.chance_level(y[has], labels[has], n_perm, int(r.seed))})
    return pd.DataFrame(rows)


METRICS = ["ari", "nmi", "ami", "purity", "silhouette", "calinski_harabasz", "davies_bouldin",
           "ari_chance", "nmi_chance", "ami_chance", "purity_chance", "ami_chance_p95", "n_clusters", "noise_fraction"]


def summarise(long: pd.DataFrame, by=("rep", "family", "modality", "norm", "method", "label_column", "n_items", "dim", "k")) -> pd.DataFrame:
    """Mean ± std over seeds of every metric, one row per representation x method x label."""
    ok = long[long["status"] == "ok"] if "status" in long else long
    if ok.empty:
        return pd.DataFrame(columns=list(by))
    metrics = [m for m in METRICS if m in ok.columns]
    return evaluate.aggregate_seeds(ok, list(by), metrics)


class SweepJob:
    """Runs one sweep configuration: train over seeds, score song-level K-Means, return mean/std metrics.

    A configuration is a dict with ``model`` ("conv_vae" or "mlp_vae"), model settings (``latent_dim``,
    ``first_channels``, ``hidden_channels``, ``kernel_size``, ``n_layers``, ``hidden``), training settings
    (``epochs``, ``lr``, ``beta``, ``batch_size``, ``warmup_epochs``, ``patience``). Picklable, so the
    sweep runner can send it to worker processes or a Dask cluster.
    """

    MODEL_KEYS = ("latent_dim", "first_channels", "hidden_channels", "kernel_size", "n_layers", "hidden")
    TRAIN_KEYS = ("epochs", "lr", "batch_size", "warmup_epochs", "patience", "free_bits", "val_fraction")

    def __init__(self, interim_dir, processed_dir, runs_root, seeds, columns, lyrics_backend, n_perm=100,
                 audio_backend="descriptors", budget: dict | None = None):
        self.interim_dir, self.processed_dir, self.runs_root = str(interim_dir), str(processed_dir), str(runs_root)
        self.seeds, self.columns, self.lyrics_backend, self.n_perm = list(seeds), list(columns), lyrics_backend, n_perm
        self.audio_backend, self.budget = audio_backend, budget

    def with_seeds(self, seeds) -> "SweepJob":
        """The same job over other seeds (what ``budget_sweep`` keeps)."""
        return SweepJob(self.interim_dir, self.processed_dir, self.runs_root, seeds, self.columns, self.lyrics_backend,
                        self.n_perm, self.audio_backend, self.budget)

    def __call__(self, cfg: dict) -> dict:
        from .data import read_tracks

        tracks = read_tracks(self.interim_dir, self.processed_dir)
        blocks = represent.load_blocks(tracks, self.processed_dir, self.lyrics_backend, self.audio_backend)
        model_cfg = {k: cfg[k] for k in self.MODEL_KEYS if k in cfg}
        train_kw = {k: cfg[k] for k in self.TRAIN_KEYS if k in cfg}
        if cfg["model"] == "conv_vae":
            index = _run_jobs(self.conv_jobs(cfg), 1, None, threads=1)
            songs = np.unique(represent.latents(index["run_dir"].iloc[0])[1])
        else:
            name = f"sweep-{cfg['run_name']}"
            spec = {name: {"kind": "mlp_vae", "input": "hybrid", "beta": cfg.get("beta", 1.0)}}
            index = train_family(blocks, tracks, model_cfg.pop("latent_dim", 8), train_kw, self.seeds,
                                 self.runs_root, specs=spec, hidden=model_cfg.get("hidden", (128, 64)), threads=1,
                                 budget=self.budget)
            songs = blocks.track_ids
        index["model"] = "run"
        long = score(representations(index, blocks), {}, tracks, self.columns, songs, n_perm=self.n_perm)
        summary = summarise(long, by=("label_column", "k"))
        out = {"n_songs": int(len(songs)), "n_seeds": len(self.seeds),
               "best_epoch_mean": float(index["best_epoch"].mean()), "run_dirs": ";".join(index["run_dir"])}
        # internal metrics depend on k, which is the label's number of classes: one set per label
        for row in summary.to_dict("records"):
            col = row["label_column"]
            out[f"{col}_k"] = int(row["k"]) if pd.notna(row["k"]) else None
            for m in ("silhouette", "ari", "nmi", "ami", "purity", "ami_chance"):
                if f"{m}_mean" in row:  # no external metrics when there is no label
                    out[f"{col}_{m}_mean"] = float(row[f"{m}_mean"])
                    out[f"{col}_{m}_std"] = float(row[f"{m}_std"])
        return out

    def conv_jobs(self, cfg: dict) -> list[dict]:
        """The training jobs (one per seed) of a ConvVAE configuration."""
        return conv_jobs(self.processed_dir, {k: cfg[k] for k in self.MODEL_KEYS if k in cfg},
                         {k: cfg[k] for k in self.TRAIN_KEYS if k in cfg}, self.seeds, self.runs_root,
                         name=f"sweep-{cfg['run_name']}", beta=cfg.get("beta", 1.0), budget=self.budget)

    def context(self) -> dict:
        """What a sweep result depends on besides its settings: data, seeds, labels, code version.

        Added to every configuration's hash, so a finished configuration is reused only when all of
        these are unchanged (a resumed sweep), never after the data or the library changed.
        """
        from .cache import file_hash
        from .features import backend_path
        from .runio import TRAIN_VERSION

        processed = Path(self.processed_dir)
        files = [Path(self.interim_dir) / "tracks.parquet", processed / "windows.parquet",
                 processed / "descriptors_tracks.parquet", backend_path(processed, self.audio_backend),
                 processed / f"lyrics_{self.lyrics_backend}.npy"]
        budget = {"budget": self.budget} if self.budget is not None else {}  # absent: hashes of older sweeps hold
        return {"seeds": self.seeds, "columns": self.columns, "n_perm": self.n_perm, "lyrics": self.lyrics_backend,
                "audio": self.audio_backend, **budget,
                "train_version": TRAIN_VERSION, "data": {f.name: file_hash(f) for f in files if f.exists()}}


# Sweep grids per profile (a notebook parameter may replace them). Lists are swept, scalars fixed.
SWEEPS = {
    "default": [
        # the seed report's grid (first-layer x hidden channels, kernel 3/5, lr 1e-3/5e-4), cut to fit
        # make all's 20 minutes on 2 cores: first_channels 64 triples the cost; add it on a bigger machine
        {"model": "conv_vae", "first_channels": [16, 32], "hidden_channels": [16, 32], "kernel_size": 3,
         "n_layers": 3, "latent_dim": 16, "lr": 1e-3, "epochs": 10, "batch_size": 64, "warmup_epochs": 2,
         "patience": 3, "beta": 1.0},
        {"model": "conv_vae", "first_channels": 16, "hidden_channels": 16, "kernel_size": [3, 5], "n_layers": 3,
         "latent_dim": 16, "lr": [5e-4], "epochs": 10, "batch_size": 64, "warmup_epochs": 2, "patience": 3,
         "beta": 1.0},
        # longer training
        {"model": "conv_vae", "first_channels": 16, "hidden_channels": 16, "kernel_size": 3, "n_layers": 3,
         "latent_dim": 16, "lr": 1e-3, "epochs": [25], "batch_size": 64, "warmup_epochs": 3, "patience": 5,
         "beta": 1.0},
        # beta and latent size on the MLP VAE (cheap), the same training as 02
        {"model": "mlp_vae", "beta": [0.5, 1.0, 2.0, 4.0], "latent_dim": 16, "epochs": 300, "lr": 1e-3,
         "batch_size": 32, "warmup_epochs": 30, "patience": 40},
        {"model": "mlp_vae", "beta": 1.0, "latent_dim": [8, 32], "epochs": 300, "lr": 1e-3,
         "batch_size": 32, "warmup_epochs": 30, "patience": 40},
    ],
    "tiny": [
        {"model": "conv_vae", "first_channels": [8, 16], "hidden_channels": 8, "kernel_size": 3, "n_layers": 2,
         "latent_dim": 4, "lr": 1e-3, "epochs": 2, "batch_size": 32, "warmup_epochs": 1, "patience": 2, "beta": 1.0},
        {"model": "mlp_vae", "beta": [1.0, 4.0], "latent_dim": 4, "epochs": 20, "lr": 3e-3, "batch_size": 16,
         "warmup_epochs": 5, "patience": 20},
    ],
}


def sweep_configs(name_or_specs, context: dict | None = None) -> list[dict]:
    """Configurations of a named sweep (``SWEEPS``) or of a list of grid specs; duplicates removed.

    ``context`` (e.g. ``SweepJob.context()``) is folded into each ``config_hash``, so results saved
    under another dataset, seed list or code version are never reused.
    """
    from .sweep import grid

    specs = SWEEPS[name_or_specs] if isinstance(name_or_specs, str) else name_or_specs
    seen, out = set(), []
    for spec in specs:
        for cfg in grid(spec):
            if cfg["config_hash"] not in seen:
                seen.add(cfg["config_hash"])
                out.append({**cfg, "run_name": f"{cfg['model']}-{cfg['run_name']}"})
    return contextualise(out, context) if context else out


def contextualise(configs: list[dict], context: dict) -> list[dict]:
    """Fold ``context`` (``SweepJob.context()``) into each configuration's ``config_hash``: call it once,
    on configurations from ``sweep_configs`` without context, after the job's seeds are final."""
    from .cache import params_hash

    return [{**c, "config_hash": params_hash({"settings": c["config_hash"], "context": context})} for c in configs]


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


WINDOW_LEVEL_MAX = 20_000  # windows scored per run; above, an even share of random windows of every song


def window_level(index: pd.DataFrame, tracks: pd.DataFrame, columns, n_perm: int = 100,
                 max_windows: int = WINDOW_LEVEL_MAX) -> pd.DataFrame:
    """Score window latents (no song averaging) against the song's labels, per seed, k = number of classes.

    Windows of one song share its labels, so window-level scores mostly measure how consistently a song's
    windows land together; the song-level table is the one to compare models on. A run with more than
    ``max_windows`` windows is scored on at most ``max_windows // n_songs`` random windows of every song
    (seeded by the run's seed; ``n_items`` says how many): its cost stays flat as the collection grows
    (1,000 songs, 120,000 windows: 76 s for six runs before).
    """
    from .train import per_song_subset

    frames = []
    lab = tracks.set_index(tracks["track_id"].astype(str))
    for r in index.itertuples():
        Z, ids = represent.latents(r.run_dir)
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
            df = evaluate.evaluate_representations({f"{r.model}[windows]": (Z, {"track_ids": uid, "norm": "none"})},
                                                   labels.loc[y.index], [col], k=k, seeds=[int(r.seed)], n_perm=n_perm)
            frames.append(df.assign(family="model", modality="audio"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def save_maps(reps: dict, tracks: pd.DataFrame, out_dir, seed: int = 0, k_column: str | None = None,
              methods=("umap", "tsne")) -> list[Path]:
    """2-D maps of song-level latents for the report, computed once (``embed2d`` caches them).

    For each ``name -> (X, meta)`` (None entries skipped): average per song, K-Means with k = number of
    ``k_column`` classes among those songs (no column: k chosen by silhouette), then one map per method,
    written atomically as ``out_dir/<name>_<method>.parquet`` (track_id, x, y, cluster, method_used).
    Representations of fewer than ``plan.MIN_SONGS`` songs are skipped.
    """
    from . import cluster, embed2d
    from .cache import atomic_to_parquet
    from .plan import MIN_SONGS

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_of = tracks.set_index(tracks["track_id"].astype(str))[k_column] if k_column else None
    written = []
    for name, rep in reps.items():
        if rep is None:
            continue
        X, meta = rep
        Xs, ids = cluster.aggregate_by_song(np.asarray(X), meta["track_ids"])
        if len(ids) < MIN_SONGS:
            continue
        k = max(int(labels_of.loc[ids].nunique()), 2) if labels_of is not None else None
        labels = cluster.fit_predict(Xs, "kmeans", k=k, seed=seed)
        for method in methods:
            coords, info = embed2d.embed_2d(Xs, method=method, seed=seed, cache_path=out_dir / f"{name}_{method}.npz")
            path = out_dir / f"{name}_{method}.parquet"
            atomic_to_parquet(pd.DataFrame({"track_id": ids, "x": coords[:, 0], "y": coords[:, 1], "cluster": labels,
                                            "method_used": info["method_used"]}), path)
            written.append(path)
    for stale in set(out_dir.glob("*.parquet")) - set(written):  # maps of an earlier run's representations
        stale.unlink()
    return written


def song_sets(blocks: represent.Blocks) -> dict[str, np.ndarray]:
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


def budget_sweep(configs: list[dict], job: SweepJob) -> tuple[list[dict], SweepJob, list[str]]:
    """The part of a sweep that fits the job's budget: seeds first, then ConvVAE configurations from
    the end of the grid (``budget.sweep_plan``); the MLP configurations cost little and all stay.

    Returns (configurations kept, the job over the seeds kept, the cuts as sentences).
    """
    from .budget import Budget, run_cost, sweep_plan

    conv = [c for c in configs if c["model"] == "conv_vae"]
    if job.budget is None or not conv:
        return configs, job, []
    n_windows, n_songs = represent.window_counts(job.processed_dir)
    costs = [run_cost(fit_budget({k: c[k] for k in SweepJob.TRAIN_KEYS if k in c}, n_windows, n_songs, job.budget)[0],
                      n_windows, n_songs) for c in conv]
    n_seeds, n_conv, cuts = sweep_plan(costs, len(job.seeds), Budget(**job.budget))
    dropped = {c["config_hash"] for c in conv[n_conv:]}
    return [c for c in configs if c["config_hash"] not in dropped], job.with_seeds(job.seeds[:n_seeds]), cuts


def train_sweep_runs(configs: list[dict], job: SweepJob, n_jobs: int = 1, scheduler: str | None = None) -> int:
    """Train the ConvVAE runs of a sweep ahead of it, one job per (configuration, seed), so every worker
    stays busy even when the budget leaves fewer configurations than workers; the sweep then loads them
    (finished runs are never retrained) and scores each configuration. A run that fails here is left to
    the sweep, which trains it again and records the error in that configuration's row.

    Returns the number of runs that failed here.
    """
    jobs = [j for c in configs if c["model"] == "conv_vae" for j in job.conv_jobs(c)]
    if not jobs:
        return 0
    done = _run_jobs([{**j, "keep_going": True} for j in jobs], n_jobs, scheduler, threads=1)
    return int(done["error"].notna().sum()) if "error" in done else 0


def runnable(configs: list[dict], plan) -> tuple[list[dict], list[str]]:
    """Sweep configurations this collection can train, and one sentence per kind left out."""
    need = {"conv_vae": "conv_vae"}
    keep = [c for c in configs if plan.runs(need.get(c["model"], "models"))]
    dropped = sorted({c["model"] for c in configs} - {c["model"] for c in keep})
    return keep, [plan.skipped.get(need.get(m, "models"), m) for m in dropped]
