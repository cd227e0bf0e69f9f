"""A VAE with one encoder per modality (audio, lyrics) fused by a product of experts with a standard-normal
prior expert, so a song with one modality still gets a latent.
"""
from __future__ import annotations

import torch
from torch import nn

from songspace.models.base import BaseVAE, _clamp, _mlp, gaussian_recon


class MultimodalVAE(BaseVAE):
    """Audio + lyrics VAE fused by a product of Gaussian experts (Wu & Goodman 2018).

    The joint posterior multiplies a N(0, I) prior expert with the expert of every *present*
    modality, so a track with only audio or only lyrics still gets a latent. During training,
    ``modality_dropout`` is the probability that a row with both modalities is encoded from one
    of them only (chosen at random), while both are still reconstructed: this teaches each
    encoder alone to land where the joint one does. Reconstruction counts present modalities only.

    Batches are dicts: ``audio`` (B, audio_dim), ``lyrics`` (B, lyrics_dim),
    ``mask_audio``, ``mask_lyrics`` (B,) bool.
    """

    def __init__(self, audio_dim: int, lyrics_dim: int, latent_dim: int = 8, hidden=(128, 64),
                 modality_dropout: float = 0.3, kind: str = "multimodal_vae", **extra):
        super().__init__()
        hidden = [int(h) for h in hidden]
        self.modality_dropout = float(modality_dropout)
        self.config = {"kind": kind, "audio_dim": int(audio_dim), "lyrics_dim": int(lyrics_dim),
                       "latent_dim": int(latent_dim), "hidden": hidden,
                       "modality_dropout": self.modality_dropout, **extra}
        self.enc = nn.ModuleDict({m: _mlp([d, *hidden], act_last=True)
                                  for m, d in (("audio", audio_dim), ("lyrics", lyrics_dim))})
        self.heads = nn.ModuleDict({m: nn.Linear(hidden[-1], 2 * latent_dim) for m in ("audio", "lyrics")})
        self.dec = nn.ModuleDict({m: _mlp([latent_dim, *hidden[::-1], d])
                                  for m, d in (("audio", audio_dim), ("lyrics", lyrics_dim))})

    @staticmethod
    def _masks(x):
        ma, ml = x.get("mask_audio"), x.get("mask_lyrics")
        n = next(v for k, v in x.items() if k in ("audio", "lyrics") and v is not None).shape[0]
        dev = next(v for k, v in x.items() if k in ("audio", "lyrics") and v is not None).device
        ma = torch.ones(n, dtype=torch.bool, device=dev) if ma is None else ma.bool()
        ml = torch.ones(n, dtype=torch.bool, device=dev) if ml is None else ml.bool()
        if x.get("audio") is None:
            ma = torch.zeros_like(ma)
        if x.get("lyrics") is None:
            ml = torch.zeros_like(ml)
        return ma, ml

    def _experts(self, x, use_audio, use_lyrics):
        """Product of the prior and the selected experts; precision-weighted mean."""
        mus, precs = [], []
        for m, use in (("audio", use_audio), ("lyrics", use_lyrics)):
            if x.get(m) is None:
                continue
            mu, logvar = self.heads[m](self.enc[m](x[m])).chunk(2, dim=1)
            logvar = _clamp(logvar)
            w = use.to(mu.dtype).unsqueeze(1)
            mus.append(mu)
            precs.append(w * torch.exp(-logvar))
        prec = 1.0 + sum(precs)  # the prior expert N(0, I) has precision 1 and mean 0
        mu = sum(p * m for p, m in zip(precs, mus)) / prec
        return mu, -torch.log(prec)

    def encode(self, x, c=None):
        ma, ml = self._masks(x)
        if self.training and self.modality_dropout > 0:
            both = ma & ml
            drop = both & (torch.rand(ma.shape, device=ma.device) < self.modality_dropout)
            pick_audio = torch.rand(ma.shape, device=ma.device) < 0.5
            ma, ml = ma & ~(drop & ~pick_audio), ml & ~(drop & pick_audio)
        return self._experts(x, ma, ml)

    def decode(self, z, c=None):
        return {m: self.dec[m](z) for m in ("audio", "lyrics")}

    def recon_loss(self, x, out):
        ma, ml = self._masks(x)
        total = 0.0
        for m, mask in (("audio", ma), ("lyrics", ml)):
            if x.get(m) is not None:
                total = total + (gaussian_recon(x[m], out["recon"][m]) * mask.to(x[m].dtype))
        return total.mean()

    @torch.no_grad()
    def embed(self, x, c=None, which: str = "joint") -> torch.Tensor:
        """Latent mean (B, latent_dim) from both modalities (``which='joint'``) or one of them.

        ``x`` is a batch dict (``audio`` and/or ``lyrics``, optional ``mask_audio``/``mask_lyrics``);
        ``c`` is unused (no condition). Rows missing the requested modality get the prior mean
        (zeros): they carry no information about it.
        """
        if which not in ("joint", "audio", "lyrics"):
            raise ValueError(f"which must be 'joint', 'audio' or 'lyrics', got {which!r}")
        ma, ml = self._masks(x)
        if which == "audio":
            ml = torch.zeros_like(ml)
        elif which == "lyrics":
            ma = torch.zeros_like(ma)
        return self._experts(x, ma, ml)[0]
