"""Build any model of the family from its kind and configuration: ``build_model(**model.config)`` rebuilds
the same architecture.
"""
from __future__ import annotations

from songspace.models.base import BaseVAE
from songspace.models.conv import ConvVAE, TransferConvVAE
from songspace.models.mlp import MLPVAE
from songspace.models.multimodal import MultimodalVAE

KINDS = ("mlp_vae", "conv_vae", "cvae", "ae", "multimodal_vae", "vade")


def build_model(kind: str, **cfg) -> BaseVAE:
    """Build a model by kind; ``build_model(**model.config)`` rebuilds a saved one.

    Parameters
    ----------
    kind : {"mlp_vae", "conv_vae", "cvae", "ae", "multimodal_vae", "vade"}
    **cfg
        mlp_vae: input_dim, latent_dim, hidden. conv_vae: input_shape, latent_dim, n_layers,
        first_channels | channels, hidden_channels, kernel_size, and ``encoder``: "conv" (default, the
        seed's conv encoder) or a musicnn backend ("musicnn-msd": ``TransferConvVAE``, which also takes
        input_dim and hidden, the width of the frozen features and of its dense head). cvae: as mlp_vae plus
        n_classes, condition_column (required), classes (optional list of category names).
        ae: as mlp_vae, or as conv_vae when ``input_shape`` is given. multimodal_vae:
        audio_dim, lyrics_dim, latent_dim, hidden, modality_dropout. vade: input_dim,
        latent_dim, hidden, n_clusters.
    """
    cfg = dict(cfg)
    if kind == "mlp_vae":
        return MLPVAE(kind=kind, **cfg)
    if kind == "conv_vae":
        cfg.pop("n_classes", None)
        if cfg.get("encoder", "conv") != "conv":
            return TransferConvVAE(kind=kind, **cfg)
        cfg.pop("encoder", None)
        return ConvVAE(kind=kind, **cfg)
    if kind == "cvae":
        if not cfg.get("condition_column"):
            raise ValueError("cvae needs condition_column (the metadata column it is conditioned on)")
        if int(cfg.get("n_classes", 0)) < 1:
            raise ValueError("cvae needs n_classes >= 1")
        return MLPVAE(kind=kind, **cfg)
    if kind == "ae":
        if "input_shape" in cfg:
            cfg.pop("input_dim", None)
            return ConvVAE(kind=kind, variational=False, **cfg)
        return MLPVAE(kind=kind, variational=False, **cfg)
    if kind == "multimodal_vae":
        return MultimodalVAE(kind=kind, **cfg)
    if kind == "vade":
        from songspace.models.vade import VaDE  # vade.py builds on this module

        return VaDE(kind=kind, **cfg)
    raise ValueError(f"unknown model kind {kind!r}; choose from {KINDS}")
