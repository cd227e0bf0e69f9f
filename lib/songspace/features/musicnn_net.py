"""musicnn's network in torch and its weights read from the TF1 checkpoint the ``musicnn`` package ships.

The architecture (front end, mid end, back end) is described in :mod:`songspace.features.musicnn`;
``read_weights`` checks every variable's shape against ``expected_shapes`` before the net is built.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from songspace.features import tfbundle

MODELS = ("MSD_musicnn", "MTT_musicnn")
N_TIMBRAL, N_TEMPORAL, N_MID, N_DENSE = 204, 51, 64, 200  # int(1.6*128), int(1.6*32), num_filt_midend, units
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default

# (name, kernel size over time) of the front end's convs, in the checkpoint's creation order
TIMBRAL = (("conv2d", 38), ("conv2d_1", 67))  # kernel (7, int(0.4*96)) and (7, int(0.7*96))
TEMPORAL = (("conv2d_2", 128), ("conv2d_3", 64), ("conv2d_4", 32))
MIDEND = ("conv2d_5", "conv2d_6", "conv2d_7")


# ---------------------------------------------------------------- checkpoint

def checkpoint_prefix(model: str = "MSD_musicnn") -> str:
    """Checkpoint prefix of ``model`` inside the installed ``musicnn`` package (found without importing it,
    so TensorFlow is never loaded). The files are ``<prefix>.index`` and ``<prefix>.data-00000-of-00001``."""
    if model not in MODELS:
        raise ValueError(f"unknown musicnn model {model!r}; expected one of {MODELS}")
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the musicnn package is not installed: pip install --no-deps musicnn==0.1.0")
    return str(Path(list(spec.submodule_search_locations)[0]) / model) + "/"


def expected_shapes(n_classes: int = 50) -> dict[str, tuple]:
    """Every checkpoint variable the architecture reads, with its TF shape (conv kernels HWIO)."""
    shapes = {}

    def bn(i, n):
        for v in ("gamma", "beta", "moving_mean", "moving_variance"):
            shapes[f"batch_normalization{'_' + str(i) if i else ''}/{v}"] = (n,)

    def layer(name, kernel, n_out):
        shapes[f"{name}/kernel"], shapes[f"{name}/bias"] = kernel, (n_out,)

    bn(0, 1)
    for i, (name, width) in enumerate(TIMBRAL):
        layer(name, (7, width, 1, N_TIMBRAL), N_TIMBRAL)
        bn(1 + i, N_TIMBRAL)
    for i, (name, k) in enumerate(TEMPORAL):
        layer(name, (k, 1, 1, N_TEMPORAL), N_TEMPORAL)
        bn(3 + i, N_TEMPORAL)
    n_front = 2 * N_TIMBRAL + 3 * N_TEMPORAL
    for i, name in enumerate(MIDEND):
        layer(name, (7, n_front if i == 0 else N_MID, 1, N_MID), N_MID)
        bn(6 + i, N_MID)
    n_pool = 2 * (n_front + 3 * N_MID)
    bn(9, n_pool)
    layer("dense", (n_pool, N_DENSE), N_DENSE)
    bn(10, N_DENSE)
    layer("dense_1", (N_DENSE, n_classes), n_classes)
    return shapes


def read_weights(prefix, n_classes: int = 50) -> dict[str, np.ndarray]:
    """Read and check the variables of a musicnn checkpoint (Adam slots and step counters are skipped).

    Raises
    ------
    tfbundle.CheckpointError
        A variable is missing or has the wrong shape, naming the checkpoint's index file. (musicnn's
        extractor ignores restore errors and silently runs on random weights.)
    """
    want = expected_shapes(n_classes)
    w = tfbundle.load_variables(prefix, want)
    index = f"{prefix}.index"
    missing = sorted(set(want) - set(w))
    if missing:
        raise tfbundle.CheckpointError(f"{index}: missing musicnn variable(s) {missing[:5]}"
                                       f"{' ...' if len(missing) > 5 else ''}")
    wrong = {k: (w[k].shape, s) for k, s in want.items() if w[k].shape != s or w[k].dtype != np.float32}
    if wrong:
        raise tfbundle.CheckpointError(f"{index}: variable(s) of the wrong shape or dtype "
                                       f"(found, expected): {wrong}")
    bad = [k for k, v in w.items() if not np.isfinite(v).all()]
    if bad:
        raise tfbundle.CheckpointError(f"{index}: non-finite values in {bad}")
    return w


# ---------------------------------------------------------------- network

def _bn(w: dict, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference batch norm ``x * scale + shift`` from stored moving statistics."""
    name = f"batch_normalization{'_' + str(i) if i else ''}"
    scale = w[f"{name}/gamma"] / np.sqrt(w[f"{name}/moving_variance"] + np.float32(BN_EPS))
    shift = w[f"{name}/beta"] - w[f"{name}/moving_mean"] * scale
    return torch.from_numpy(scale.astype(np.float32)), torch.from_numpy(shift.astype(np.float32))


def _same_pad(k: int) -> tuple[int, int]:
    """TF 'same' padding for stride 1: the extra sample of an even kernel goes after."""
    return (k - 1) // 2, k - 1 - (k - 1) // 2


TILE = 16  # time samples per FFT tile of the timbral convs: 16 - 7 + 1 = 10 outputs per tile
TILE_CHUNK = 4  # tiles per matrix product: keeps the products' output in cache (~2x faster than all)


def _pad_to(a: np.ndarray, multiple: int) -> np.ndarray:
    """Zero-pad the last axis to a multiple of ``multiple`` (matrix products with 208 columns run
    ~1.4x faster than with 204 here); the extra channels are dropped after the product."""
    return np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, -a.shape[-1] % multiple)])


def tile_transforms(n: int = TILE, r: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bilinear algorithm for the valid correlation of an ``n``-sample tile with an ``r``-tap filter,
    from the real FFT of size ``n`` (each complex product in 3 real ones): ``y = AT @ ((G @ w) * (BT @ x))``
    gives ``y[t] = sum_d x[t + d] w[d]`` for t < n - r + 1.

    Returns
    -------
    BT : (P, n), G : (P, r), AT : (n - r + 1, P) float64, with P = 2 + 3 (n / 2 - 1) products.
    """
    j, d, t = np.arange(n), np.arange(r), np.arange(n - r + 1)
    cos = lambda k, v: np.cos(2 * np.pi * k * v / n)  # noqa: E731
    sin = lambda k, v: np.sin(2 * np.pi * k * v / n)  # noqa: E731
    BT, G, AT = [cos(0, j), cos(n // 2, j)], [cos(0, d), cos(n // 2, d)], [cos(0, t) / n, cos(n // 2, t) / n]
    for k in range(1, n // 2):
        a, b = cos(k, j), -sin(k, j)  # rfft(x)[k] = a + ib
        c, e = cos(k, d), sin(k, d)  # conj(rfft(w)[k]) = c + ie
        # (a + ib)(c + ie) = (P1 - P3) + i (P1 + P2) with P1 = c(a + b), P2 = a(e - c), P3 = b(c + e)
        BT += [a + b, a, b]
        G += [c, e - c, c + e]
        AT += [2 / n * (cos(k, t) - sin(k, t)), -2 / n * sin(k, t), -2 / n * cos(k, t)]
    return np.array(BT), np.array(G), np.array(AT).T


class MusicnnNet(torch.nn.Module):
    """musicnn's graph in inference mode; ``forward(x)`` with x (batch, time, 96) log-mel patches
    returns (penultimate (batch, 200), tag probabilities (batch, n_classes)).

    Front-end convs are followed by ReLU, batch norm and a max over mel bands. Computed here as
    max -> bias -> ReLU -> affine, which is exact: ReLU and the per-channel affine are monotone, and
    where a channel's batch-norm scale is negative the max is a min, taken as a max of the negated
    kernel. The timbral convs (90 % of the flops) run as FFT tiles along time
    (``fast_timbral``; 3x fewer multiply-adds, differences ~1e-5), else as plain convolutions.
    """

    def __init__(self, w: dict[str, np.ndarray], fast_timbral: bool = True):
        super().__init__()
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        self.fast_timbral = fast_timbral
        self.bn_in = _bn(w, 0)
        self.timbral, self.temporal = [], []
        for i, (name, _) in enumerate(TIMBRAL):
            bn = _bn(w, 1 + i)
            sign = np.where(bn[0].numpy() < 0, -1.0, 1.0)
            k = w[f"{name}/kernel"][:, :, 0, :] * sign  # (7, width, out), sign folded in
            BT, G, AT = tile_transforms()
            self.timbral.append(dict(
                conv=t(k.transpose(2, 0, 1)[:, None]),  # torch OIHW (out, 1, time, mel)
                tiles=(t(BT.T), t(_pad_to(np.einsum("pd,dwc->pwc", G, k.astype(np.float64)), 16)), t(AT)),
                sign=t(sign), bias=t(w[f"{name}/bias"]), bn=bn))
        for i, (name, k) in enumerate(TEMPORAL):
            bn = _bn(w, 3 + i)
            sign = np.where(bn[0].numpy() < 0, -1.0, 1.0)
            self.temporal.append(dict(conv=t(w[f"{name}/kernel"].transpose(3, 2, 0, 1) * sign[:, None, None, None]),
                                      sign=t(sign), bias=t(w[f"{name}/bias"]), bn=bn, pad=_same_pad(k)))
        # mid-end kernels (7, C_in, 1, out) act as 1-D convs over time: torch (out, C_in, 7)
        self.midend = [(t(w[f"{n}/kernel"][:, :, 0, :].transpose(2, 1, 0)), t(w[f"{n}/bias"]), _bn(w, 6 + i))
                       for i, n in enumerate(MIDEND)]
        self.bn_pool = _bn(w, 9)
        self.dense = (t(w["dense/kernel"].T), t(w["dense/bias"]))
        self.bn_dense = _bn(w, 10)
        self.out = (t(w["dense_1/kernel"].T), t(w["dense_1/bias"]))

    @staticmethod
    def _finish(signed_max: torch.Tensor, layer: dict) -> torch.Tensor:
        """(batch, C, time) max over mel of the sign-folded conv -> bias -> ReLU -> batch norm."""
        scale, shift = layer["bn"]
        pooled = signed_max * layer["sign"][:, None] + layer["bias"][:, None]
        return torch.relu(pooled) * scale[:, None] + shift[:, None]

    @staticmethod
    def _timbral_tiles(xp: torch.Tensor, tiles, n_channels: int) -> torch.Tensor:
        """Max over mel of the valid 7 x width conv of xp (batch, time + 6, mel), by FFT tiles along time.

        Each tile of 16 frames gives 10 outputs from 23 products, each product a correlation along mel
        done as one batched matrix product (im2col over mel), a few tiles at a time. Returns
        (batch, n_channels, time)."""
        BT, Gk, AT = tiles  # (TILE, P), (P, width, C padded), (m, P)
        P, width, C = Gk.shape
        B, Tp, n_mels = xp.shape
        m, T = AT.shape[0], Tp - 6
        n_tiles = -(-T // m)
        xp = F.pad(xp, (0, 0, 0, n_tiles * m + 6 - Tp))
        X = (xp.unfold(1, TILE, m) @ BT).permute(3, 0, 1, 2)  # (P, batch, tiles, mel)
        n_out = n_mels - width + 1
        out = []
        for i in range(0, n_tiles, TILE_CHUNK):
            Xi = X[:, :, i:i + TILE_CHUNK]
            cols = Xi.unfold(3, width, 1).reshape(P, -1, width)  # (P, batch * tiles * n_out, width)
            Y = torch.bmm(cols, Gk)
            out.append((AT @ Y.reshape(P, -1)).reshape(m, B, Xi.shape[2], n_out, C).amax(dim=3))
        y = torch.cat(out, dim=2)[..., :n_channels]  # (m, batch, tiles, C)
        return y.permute(1, 3, 2, 0).reshape(B, n_channels, n_tiles * m)[:, :, :T]

    def frontend(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, time, 96) -> (batch, 561, time)."""
        scale, shift = self.bn_in
        x = x * scale + shift
        xp = F.pad(x, (0, 0, 3, 3))
        out = []
        for layer in self.timbral:
            if self.fast_timbral:
                mx = self._timbral_tiles(xp, layer["tiles"], len(layer["bias"]))
            else:
                mx = F.conv2d(xp.unsqueeze(1), layer["conv"]).amax(dim=3)
            out.append(self._finish(mx, layer))
        xi = x.unsqueeze(1)  # (batch, 1, time, mel)
        for layer in self.temporal:
            before, after = layer["pad"]
            out.append(self._finish(F.conv2d(F.pad(xi, (0, 0, before, after)), layer["conv"]).amax(dim=3), layer))
        return torch.cat(out, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        front = self.frontend(x)
        feats, h = [front], front
        for i, (k, b, (scale, shift)) in enumerate(self.midend):
            c = torch.relu(F.conv1d(F.pad(h, (3, 3)), k, b)) * scale[:, None] + shift[:, None]
            h = c if i == 0 else c + h
            feats.append(h)
        m = torch.cat(feats, dim=1)  # (batch, 753, time)
        # TF: concat([max, mean], axis=2) then flatten -> max_0, mean_0, max_1, mean_1, ...
        pooled = torch.stack([m.amax(dim=2), m.mean(dim=2)], dim=2).flatten(1)
        scale, shift = self.bn_pool
        pooled = pooled * scale + shift
        scale, shift = self.bn_dense
        pen = torch.relu(F.linear(pooled, *self.dense)) * scale + shift
        return pen, torch.sigmoid(F.linear(pen, *self.out))
