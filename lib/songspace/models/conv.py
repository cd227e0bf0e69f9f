"""The convolutional VAEs: ELBO with a conv decoder to log-mel patches (N, 1, n_mels, frames).

``ConvVAE`` (``encoder="conv"``, the seed's) learns its conv encoder from the patches. ``TransferConvVAE``
(``encoder`` a musicnn backend) starts from musicnn's pretrained network instead: its encoder reads the
frozen per-patch features 01 already computed (``songspace.features.musicnn``) and trains only a small
dense head; its decoder is the same conv decoder, rebuilding the log-mel patch of the same stretch of audio.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from songspace.models.base import BaseVAE, _clamp, _mlp, gaussian_recon


def _act():
    # In-place activations: a convolution's backward needs its input, not its output, so overwriting
    # the output is safe; it gave the same weights bit for bit and a ~20% faster training step
    # (32 x 64 patches, batch 64, one thread: 1.01 -> 0.80 ms per sample).
    return nn.LeakyReLU(0.1, inplace=True)


def conv_decoder(chans: list[int], hidden_channels: int, k: int, out_channels: int) -> nn.Sequential:
    """The decoder of both conv VAEs: (N, hidden_channels, h, w) maps -> (N, out_channels, 2^L h, 2^L w).

    A stride-1 convolution to ``chans[-1]``, then one stride-2 transposed convolution per entry of
    ``chans`` (reversed), then a convolution to ``out_channels``; kernel ``k``, 'same' padding.
    """
    p = k // 2
    dec = [nn.Conv2d(hidden_channels, chans[-1], k, padding=p), _act()]
    rev = chans[::-1]
    for a, b in zip(rev, rev[1:] + [rev[-1]]):
        dec += [nn.ConvTranspose2d(a, b, k, stride=2, padding=p, output_padding=1), _act()]
    dec += [nn.Conv2d(rev[-1], out_channels, k, padding=p)]
    return nn.Sequential(*dec)


def crop_to(y: torch.Tensor, input_shape) -> torch.Tensor:
    """Decoder output (N, C, H', W') cropped (or first enlarged) to ``input_shape`` (C, H, W)."""
    H, W = input_shape[1:]
    if y.shape[2] < H or y.shape[3] < W:
        y = F.interpolate(y, size=(max(H, y.shape[2]), max(W, y.shape[3])), mode="nearest")
    return y[:, :, :H, :W]


def _shape_and_channels(input_shape, channels, first_channels: int, n_layers: int) -> tuple[tuple, list[int]]:
    """A patch's (channels, n_mels, frames) (a 2-d shape gets one channel) and the conv layers' channels
    (``channels``, else ``first_channels`` doubled at each of ``n_layers``)."""
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) == 2:
        input_shape = (1, *input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, n_mels, frames), got {input_shape}")
    chans = [int(c) for c in channels] if channels else [first_channels * 2 ** i for i in range(n_layers)]
    return input_shape, chans


class ConvVAE(BaseVAE):
    """Convolutional VAE / autoencoder on log-mel patches of any size.

    Encoder: ``n_layers`` stride-2 convolutions (channels ``channels`` if a list, else
    ``first_channels * 2**i``), then a stride-1 convolution to ``hidden_channels`` maps that are
    flattened into the mean and log-variance. The decoder mirrors it with transposed convolutions
    and crops (or interpolates) its output to the input size, so any n_mels x frames works.

    Parameters
    ----------
    input_shape : (1, n_mels, frames)
    latent_dim, n_layers, first_channels, hidden_channels, kernel_size : int
    channels : list of int, optional
        Per-layer channels (overrides ``first_channels`` and ``n_layers``).
    variational : bool
    """

    def __init__(self, input_shape, latent_dim: int = 16, n_layers: int = 3, first_channels: int = 32,
                 channels=None, hidden_channels: int = 32, kernel_size: int = 3, variational: bool = True,
                 kind: str = "conv_vae", **extra):
        super().__init__()
        input_shape, chans = _shape_and_channels(input_shape, channels, first_channels, n_layers)
        k, p = int(kernel_size), int(kernel_size) // 2
        self.variational = variational
        self.input_shape = input_shape
        self.config = {"kind": kind, "input_shape": list(input_shape), "latent_dim": int(latent_dim),
                       "n_layers": len(chans), "first_channels": chans[0], "channels": chans,
                       "hidden_channels": int(hidden_channels), "kernel_size": k, **extra}
        act = _act
        enc, c_in = [], input_shape[0]
        for c in chans:
            enc += [nn.Conv2d(c_in, c, k, stride=2, padding=p), act()]
            c_in = c
        enc += [nn.Conv2d(c_in, hidden_channels, k, padding=p), act()]
        self.encoder = nn.Sequential(*enc)
        with torch.no_grad():  # shapes are computed, not assumed
            self.feat_shape = tuple(self.encoder(torch.zeros(1, *input_shape)).shape[1:])
        n_flat = int(torch.tensor(self.feat_shape).prod())
        self.fc_mu = nn.Linear(n_flat, latent_dim)
        self.fc_logvar = nn.Linear(n_flat, latent_dim) if variational else None
        self.fc_dec = nn.Linear(latent_dim, n_flat)
        self.decoder = conv_decoder(chans, hidden_channels, k, input_shape[0])
        # Channels-last convolutions train this model ~1.7x faster on CPU (oneDNN; measured at 32 x 64
        # patches, batch 64, one thread); weights and activations are kept in that layout throughout.
        self.to(memory_format=torch.channels_last)

    def encode(self, x, c=None):
        h = self.encoder(x.contiguous(memory_format=torch.channels_last)).flatten(1)
        return self.fc_mu(h), (_clamp(self.fc_logvar(h)) if self.variational else None)

    def decode(self, z, c=None):
        y = self.decoder(self.fc_dec(z).view(-1, *self.feat_shape).contiguous(memory_format=torch.channels_last))
        return crop_to(y, self.input_shape)


class TransferConvVAE(BaseVAE):
    """ConvVAE whose encoder starts from musicnn's pretrained, frozen network.

    musicnn's front, mid and back end (``songspace.features.musicnn``, weights of the installed
    package, never trained here) turn each 3-s patch into features once, in 01; this model trains
    a dense head on them to the posterior and the conv decoder of :class:`ConvVAE` from ``z`` back to
    the log-mel patch of the same stretch of audio. The ELBO is the same: squared error of the patch
    plus beta * KL. A song's representation is the mean of its patches' posterior means.

    Input ``x`` is a dict: ``features`` (N, input_dim) float32, the frozen musicnn features (scaled
    rows), and ``logmel`` (N, 1, n_mels, frames), the standardised patch the decoder rebuilds.

    Parameters
    ----------
    input_dim : int
        Width of ``features`` (200: musicnn's penultimate layer; 250 with its tag probabilities).
    input_shape : (1, n_mels, frames)
        Shape of one ``logmel`` patch.
    latent_dim : int
    hidden : list of int
        Widths of the encoder head's hidden layers (LeakyReLU).
    n_layers, first_channels, channels, hidden_channels, kernel_size : int
        The conv decoder, as in :class:`ConvVAE` (upsampling layers and their channels).
    encoder : str
        The musicnn backend whose features are the input (``"musicnn-msd"``): recorded so a saved
        model says what it reads.
    variational : bool
    """

    def __init__(self, input_dim, input_shape, latent_dim: int = 16, hidden=(128,), n_layers: int = 3,
                 first_channels: int = 16, channels=None, hidden_channels: int = 16, kernel_size: int = 3,
                 encoder: str = "musicnn-msd", variational: bool = True, kind: str = "conv_vae", **extra):
        super().__init__()
        input_shape, chans = _shape_and_channels(input_shape, channels, first_channels, n_layers)
        hidden = [int(h) for h in hidden]
        k = int(kernel_size)
        self.variational = variational
        self.input_shape = input_shape
        self.config = {"kind": kind, "encoder": str(encoder), "input_dim": int(input_dim),
                       "input_shape": list(input_shape), "latent_dim": int(latent_dim), "hidden": hidden,
                       "n_layers": len(chans), "first_channels": chans[0], "channels": chans,
                       "hidden_channels": int(hidden_channels), "kernel_size": k, **extra}
        self.head = _mlp([int(input_dim), *hidden], act_last=True) if hidden else nn.Identity()
        width = hidden[-1] if hidden else int(input_dim)
        self.fc_mu = nn.Linear(width, latent_dim)
        self.fc_logvar = nn.Linear(width, latent_dim) if variational else None
        # the maps the decoder starts from: what ConvVAE's stride-2 encoder would leave ('same' padding)
        h, w = input_shape[1:]
        for _ in chans:
            h, w = -(-h // 2), -(-w // 2)
        self.feat_shape = (int(hidden_channels), h, w)
        self.fc_dec = nn.Linear(latent_dim, int(hidden_channels) * h * w)
        self.decoder = conv_decoder(chans, int(hidden_channels), k, input_shape[0])
        self.decoder.to(memory_format=torch.channels_last)  # ~1.7x faster on CPU, as in ConvVAE

    def encode(self, x, c=None):
        h = self.head(x["features"])
        return self.fc_mu(h), (_clamp(self.fc_logvar(h)) if self.variational else None)

    def decode(self, z, c=None):
        y = self.decoder(self.fc_dec(z).view(-1, *self.feat_shape).contiguous(memory_format=torch.channels_last))
        return crop_to(y, self.input_shape)

    def target(self, x):
        """What the decoder rebuilds: the ``logmel`` patches (N, 1, n_mels, frames)."""
        return x["logmel"]

    def recon_loss(self, x, out) -> torch.Tensor:
        """Squared error of the rebuilt log-mel patch, summed over bins, averaged over the batch."""
        return gaussian_recon(x["logmel"], out["recon"]).mean()
