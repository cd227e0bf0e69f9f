"""The VAE family behind one interface, and nothing that trains them.

``base`` holds :class:`BaseVAE` and the shared loss terms; ``mlp``, ``conv`` and ``multimodal`` are the
architectures, ``vade`` the mixture-prior VAE whose components are clusters; ``registry.build_model`` builds
any of them from its kind and a typed configuration.
"""

import lazy_loader

# Submodules load on first use, so importing one stage does not import torch or plotly for another.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["base", "conv", "mlp", "multimodal", "registry", "vade"],
    submod_attrs={
        "base": ["kl_per_dim", "gaussian_recon", "BaseVAE"],
        "conv": ["ConvVAE", "TransferConvVAE", "conv_decoder", "crop_to"],
        "mlp": ["MLPVAE"],
        "multimodal": ["MultimodalVAE"],
        "registry": ["KINDS", "build_model"],
        "vade": ["VaDE"],
    },
)
