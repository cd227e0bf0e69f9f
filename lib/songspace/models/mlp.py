"""The MLP VAE on feature vectors (N, input_dim); with ``cond_dim`` a conditional VAE, with
``deterministic=True`` a plain autoencoder.
"""
from __future__ import annotations

import torch
from torch import nn

from songspace.models.base import BaseVAE, _clamp, _mlp


class MLPVAE(BaseVAE):
    """MLP (C)VAE / autoencoder on vectors.

    Parameters
    ----------
    input_dim : int
        Features per row.
    latent_dim : int
    hidden : list of int
        Hidden layer widths of the encoder (the decoder mirrors them).
    n_classes : int
        Width of the one-hot condition (0: unconditional).
    variational : bool
        False makes a deterministic autoencoder.
    """

    def __init__(self, input_dim: int, latent_dim: int = 8, hidden=(128, 64), n_classes: int = 0,
                 variational: bool = True, kind: str = "mlp_vae", **extra):
        super().__init__()
        hidden = [int(h) for h in hidden]
        self.variational = variational
        self.n_classes = int(n_classes)
        self.config = {"kind": kind, "input_dim": int(input_dim), "latent_dim": int(latent_dim),
                       "hidden": hidden, "n_classes": self.n_classes, **extra}
        self.encoder = _mlp([input_dim + n_classes, *hidden], act_last=True)
        self.fc_mu = nn.Linear(hidden[-1], latent_dim)
        self.fc_logvar = nn.Linear(hidden[-1], latent_dim) if variational else None
        self.decoder = _mlp([latent_dim + n_classes, *hidden[::-1], input_dim])

    def _cat(self, t, c):
        if self.n_classes:
            if c is None:
                raise ValueError(f"{self.config['kind']} is conditioned on {self.config.get('condition_column')!r}: pass c")
            return torch.cat([t, c.to(t.dtype)], dim=1)
        return t

    def encode(self, x, c=None):
        h = self.encoder(self._cat(x, c))
        return self.fc_mu(h), (_clamp(self.fc_logvar(h)) if self.variational else None)

    def decode(self, z, c=None):
        return self.decoder(self._cat(z, c))
