"""Stages 04 and 05: how good the clusters are, measured honestly, and what the user takes home.

``cluster`` clusters any matrix; ``metrics`` scores a clustering, ``chance`` gives the permuted-label chance
level, ``scoring`` aggregates seeds and scores representations; ``representation`` is the record every
representation travels in and ``baselines`` makes the ones without a model; ``compare`` scores the runs'
latents beside them and ``comparison`` gathers stage 05; ``sweep`` trains and scores configuration grids
(``runner`` runs them resumably);
``verdicts`` turns tables into sentences; ``recommendation`` picks the (representation, algorithm) pair the
user takes home, ``export`` writes its clusters and neighbours (``neighbours``: the representation's own
geometry, precision@10) and ``playlists`` one ``.m3u8`` per cluster; ``assign`` places new songs into it
without retraining; ``quality`` is the real-collection table of ``make bench``.
"""

import lazy_loader

# Submodules load on first use, so importing one stage does not import torch or plotly for another.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "assign",
        "baselines",
        "chance",
        "cluster",
        "compare",
        "comparison",
        "export",
        "metrics",
        "neighbours",
        "playlists",
        "quality",
        "recommendation",
        "representation",
        "runner",
        "scoring",
        "sweep",
        "verdicts",
    ],
    submod_attrs={
        "assign": ["AssignError", "save_state", "read_state", "new_tracks", "normalise", "place", "assign"],
        "baselines": ["extra_baselines"],
        "chance": [
            "permuted_clusterings",
            "CHANCE_CELLS",
            "permuted_contingencies",
            "external_from_contingencies",
            "chance_scores",
            "chance_level",
            "chance_level_loop",
        ],
        "cluster": [
            "METHODS",
            "MINIBATCH_ABOVE",
            "SUBSAMPLE_ABOVE",
            "SILHOUETTE_SAMPLE",
            "NORMS",
            "preprocess",
            "dbscan_eps",
            "default_min_samples",
            "seed_free",
            "choose_k",
            "fit_predict",
            "PREDICTS",
            "fit_predictor",
            "aggregate_by_song",
        ],
        "compare": [
            "representations",
            "score",
            "own_clusters",
            "METRICS",
            "summarise",
            "song_sets",
            "WINDOW_LEVEL_MAX",
            "window_level",
            "best_from_sweep",
        ],
        "comparison": [
            "ALGORITHM_MODELS",
            "Comparison",
            "gather",
            "score_song_sets",
            "window_vs_song",
            "compare_algorithms",
            "map_choice",
            "describe",
            "algorithm_pivot",
            "save",
            "take_away",
        ],
        "export": [
            "song_names",
            "song_name",
            "song_level",
            "clustering",
            "cluster_table",
            "neighbour_table",
            "rescore",
            "write",
            "cluster_tags",
            "cluster_lists",
            "neighbour_examples",
        ],
        "metrics": [
            "EXTERNAL",
            "INTERNAL",
            "NO_LABEL",
            "SILHOUETTE_MAX_N",
            "internal_metrics",
            "purity",
            "external_metrics",
        ],
        "neighbours": ["K", "metric_of", "nearest", "precision_at_k", "artist_groups"],
        "playlists": ["durations", "playlist_name", "write_playlists"],
        "quality": ["COLUMNS", "quality_table", "main"],
        "recommendation": ["DEFAULT_PREFERENCE", "LABEL_FREE", "chosen_on_labels", "candidates",
                           "recommend"],
        "representation": ["Representation"],
        "scoring": [
            "evaluate_clustering",
            "aggregate_seeds",
            "format_pm",
            "evaluate_representations",
            "rank_by_silhouette",
        ],
        "runner": ["RESERVED", "FINAL", "grid", "config_hash", "record", "run_sweep", "status_line"],
        "sweep": [
            "SweepJob",
            "sweep_configs",
            "contextualise",
            "budget_sweep",
            "prune_sweep",
            "train_sweep_runs",
            "runnable",
        ],
        "verdicts": [
            "format_table",
            "verdict",
            "vae_vs_baselines",
            "own_vs_kmeans",
            "modality_contribution",
            "chance_check",
            "nmi_inflation",
            "small_data_caveat",
            "MODALITY_REPS",
            "findings",
            "language_similarity",
        ],
    },
)
