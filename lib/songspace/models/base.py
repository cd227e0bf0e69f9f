"""The VAE family behind one interface (after AntixK/PyTorch-VAE's ``BaseVAE``).

Every model has ``encode -> (mu, logvar)``, ``reparameterize``, ``decode``, ``forward -> dict``,
``loss -> dict(loss, recon, kl)`` and ``embed -> mu`` (the latent mean used for clustering), plus a
``config`` dict such that ``build_model(**model.config)`` rebuilds the same architecture.

Kinds (``build_model(kind, **cfg)``):

- ``"mlp_vae"``        MLP VAE on feature vectors (N, input_dim).
- ``"conv_vae"``       convolutional VAE on log-mel patches (N, 1, n_mels, frames): a conv encoder
                       (``encoder="conv"``), or a dense head on musicnn's frozen per-patch features
                       (``encoder="musicnn-msd"``, ``TransferConvVAE``); a conv decoder either way.
- ``"cvae"``           MLP VAE conditioned on a one-hot categorical column (c concatenated to
                       the encoder input and to z for the decoder).
- ``"ae"``             deterministic autoencoder (``logvar`` None, KL 0); MLP, or conv when
                       ``input_shape`` is given. For the "AE + K-Means" baseline.
- ``"multimodal_vae"`` one encoder per modality (audio, lyrics) fused by a product of experts
                       with a standard-normal prior expert; a track with one modality still gets
                       a latent.
- ``"vade"``           MLP VAE with a Gaussian-mixture prior whose components are the clusters
                       (``songspace.models.vade.VaDE``: adds ``predict``/``predict_proba``).

beta-VAE is not a class: ``beta`` is an argument of ``loss``.
"""
from __future__ import annotations

import torch
from torch import nn


def _mlp(sizes: list[int], act_last: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if act_last or i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


def _clamp(logvar: torch.Tensor) -> torch.Tensor:
    """Keep log-variances in [-10, 10]: one exploding exp(logvar) otherwise derails a whole run."""
    return logvar.clamp(-10.0, 10.0)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch.

    Parameters
    ----------
    mu, logvar : torch.Tensor, shape (batch, latent_dim)

    Returns
    -------
    torch.Tensor, shape (latent_dim,), nats
    """
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(0)


def gaussian_recon(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-row squared error summed over features, shape (batch,).

    This is the negative log-likelihood of a Gaussian decoder with fixed variance 1/2, up to a constant.
    """
    return (x_hat - x).pow(2).flatten(1).sum(1)


class BaseVAE(nn.Module):
    """Shared interface; subclasses implement ``encode`` and ``decode`` and set ``self.config``."""

    variational: bool = True

    def encode(self, x, c=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, z, c=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I); returns ``mu`` when ``logvar`` is None (autoencoder)."""
        if logvar is None:
            return mu
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def forward(self, x, c=None) -> dict:
        mu, logvar = self.encode(x, c)
        z = self.reparameterize(mu, logvar)
        return {"recon": self.decode(z, c), "mu": mu, "logvar": logvar, "z": z}

    def target(self, x):
        """What ``decode`` rebuilds from a batch ``x``: the input itself, unless the model reads one
        thing and rebuilds another (``TransferConvVAE``: musicnn features in, log-mel patches out)."""
        return x

    def recon_loss(self, x, out) -> torch.Tensor:
        """Reconstruction error summed over features, averaged over the batch (scalar)."""
        return gaussian_recon(x, out["recon"]).mean()

    def loss(self, x, out: dict, beta: float = 1.0, free_bits: float = 0.0) -> dict:
        """ELBO terms.

        Parameters
        ----------
        x : torch.Tensor, the batch that produced ``out``
        out : dict from ``forward``
        beta : float
            Weight of the KL term (beta-VAE; 1 is the plain ELBO, 0 an autoencoder with noise).
        free_bits : float
            Per-dimension KL floor in nats (Kingma et al. 2016): dimensions below it are not
            pushed further toward the prior.

        Returns
        -------
        dict of scalar tensors: ``loss`` (recon + beta * max(KL_d, free_bits) summed),
        ``recon`` (summed over features, mean over batch), ``kl`` (true KL summed over latent dims,
        mean over batch; 0 for an autoencoder).
        """
        recon = self.recon_loss(x, out)
        if out["logvar"] is None:
            kl = recon.new_zeros(())
            kl_term = kl
        else:
            kd = kl_per_dim(out["mu"], out["logvar"])
            kl = kd.sum()
            kl_term = kd.clamp(min=free_bits).sum() if free_bits > 0 else kl
        return {"loss": recon + beta * kl_term, "recon": recon, "kl": kl}

    @torch.no_grad()
    def embed(self, x, c=None, which: str = "joint") -> torch.Tensor:
        """Latent mean (batch, latent_dim), no gradient; the representation that gets clustered.

        One signature for every model: ``which`` picks a modality of a multimodal model; a model with
        one input accepts only ``"joint"`` (its whole input).
        """
        if which != "joint":
            raise ValueError(f"{self.config['kind']} has one input: which must be 'joint', got {which!r}")
        return self.encode(x, c)[0]
