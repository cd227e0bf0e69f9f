"""Stages 04 and 05: how good the clusters are, measured honestly, and what the user takes home.

``cluster`` clusters any matrix; ``metrics`` scores a clustering, ``chance`` gives the permuted-label chance
level, ``scoring`` aggregates seeds and scores representations; ``representation`` is the record every
representation travels in and ``baselines`` makes the ones without a model; ``compare`` scores the runs'
latents beside them and ``comparison`` gathers stage 05; ``sweep`` trains and scores configuration grids
(``runner`` runs them resumably);
``verdicts`` turns tables into sentences; ``export`` writes clusters and neighbours; ``quality`` is the
real-collection table of ``make bench``.
"""

import lazy_loader

# Submodules load on first use, so importing one stage does not import torch or plotly for another.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "baselines",
        "chance",
        "cluster",
        "compare",
        "comparison",
        "export",
        "metrics",
        "quality",
        "representation",
        "runner",
        "scoring",
        "sweep",
        "verdicts",
    ],
    submod_attrs={
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
            "ALGORITHM_REPS",
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
            "DEFAULT_PREFERENCE",
            "chosen_on_labels",
            "recommend",
            "song_level",
            "cluster_table",
            "neighbour_table",
            "write",
            "song_name",
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
        "quality": ["COLUMNS", "quality_table", "main"],
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
