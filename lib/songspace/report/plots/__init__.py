"""Every figure of the project: static ones with matplotlib/seaborn, interactive ones with plotly.

``style`` sets up a notebook and saves figures; ``latent`` draws latent maps and traversals (``player``: click a
point of the explorer to hear the song); ``training``
draws curves and reconstructions; ``scores`` draws the summary and composition figures.
"""

import lazy_loader

# Submodules load on first use, so importing one stage does not import torch or plotly for another.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["latent", "player", "scores", "style", "training"],
    submod_attrs={
        "latent": [
            "scatter_latent",
            "scatter_latent_static",
            "most_active_dims",
            "latent_traversal",
            "latent_map_grid",
            "latent_explorer",
        ],
        "player": ["EXPLORER_META", "audio_sources", "player_html"],
        "scores": [
            "composition_table",
            "composition_heatmap",
            "CHANCE_BAND",
            "FAMILY_STYLE",
            "ami_summary",
            "internal_summary",
            "composition_heatmaps",
        ],
        "style": ["STYLE", "SPEC_CMAP", "HOVER", "PLOTLY_RENDERER", "setup_notebook", "save_figure"],
        "training": [
            "metric_across_runs",
            "reconstructions_spectrogram",
            "reconstructions_vector",
            "training_curves",
            "reconstructions_specshow",
        ],
    },
)
