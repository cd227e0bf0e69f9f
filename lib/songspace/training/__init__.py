"""Stages 02 and 03: the one fit loop and everything a run needs around it.

``inputs`` builds the model inputs from the features (``scaling`` and ``split`` make them fair: blocks weigh
the same, and splits are by song); ``batches`` feeds the loop; ``loop.fit`` trains, with ``callbacks`` and
``inference`` (latents and cluster predictions); ``budget`` caps what training may cost; ``runs`` says which
runs a notebook trains (``RunSpec``) and ``store`` keeps each run on disk, keyed by content, so a stopped run
resumes; ``neighbours`` holds the neighbour-consistency term; ``pruning`` stops bad sweep configurations
early (Optuna's successive halving); ``estimator`` is the scikit-learn wrapper.
"""

import lazy_loader

# Submodules load on first use, so importing one stage does not import torch or plotly for another.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "batches",
        "budget",
        "callbacks",
        "estimator",
        "inference",
        "inputs",
        "loop",
        "neighbours",
        "pruning",
        "runs",
        "scaling",
        "split",
        "store",
    ],
    submod_attrs={
        "batches": ["RowBatches", "NeighbourBatches", "per_song_subset", "PerSongSampler", "make_loader", "to_device",
                    "n_rows"],
        "budget": ["Budget", "window_training", "song_training", "run_cost", "sweep_plan"],
        "callbacks": ["Callback", "TensorBoardLogger"],
        "estimator": ["VECTOR_KINDS", "SongspaceVAE"],
        "neighbours": ["neighbour_table", "window_neighbour_table", "consistency"],
        "pruning": ["Pruning", "Reporter", "screen", "neg_elbo", "history_values"],
        "inference": ["encode_condition", "condition", "active_units", "encode_all", "predict_clusters"],
        "inputs": [
            "Blocks",
            "load_audio_block",
            "load_blocks",
            "present_blocks",
            "model_inputs",
            "lyrics_inputs",
            "audio_windows",
            "window_inputs",
            "window_counts",
            "NormalisedPatches",
            "conv_inputs",
            "transfer_inputs",
            "latents",
        ],
        "loop": ["TrainConfig", "RunResult", "HISTORY_EVERY_S", "seed_everything", "pick_device", "adam", "fit"],
        "runs": [
            "VIEWS",
            "INDEX_COLUMNS",
            "RunSpec",
            "train_config",
            "view_inputs",
            "train_run",
            "train_runs",
            "family",
            "default_k",
            "family_runs",
            "train_family",
            "conv_runs",
            "train_conv",
            "write_index",
            "read_index",
            "describe_inputs",
            "first_run",
            "histories",
            "usage",
        ],
        "scaling": ["block_norm", "l2_rows", "standardise_blocks"],
        "split": ["split_by_song"],
        "store": [
            "TRAIN_VERSION",
            "data_fingerprint",
            "run_key",
            "run",
            "load_run",
            "save_checkpoint",
            "load_checkpoint",
        ],
    },
)
