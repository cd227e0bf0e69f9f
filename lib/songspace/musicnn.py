"""musicnn (Pons & Serra, 2019) as a pretrained audio embedding, in torch, without TensorFlow.

The weights are the TF1 checkpoints that the ``musicnn`` package ships (install it with
``pip install --no-deps musicnn==0.1.0``: its metadata pulls TensorFlow 1.x, which the port does not
need). They are read with ``songspace.tfbundle`` and checked against the architecture of
``musicnn/models.py::build_musicnn`` re-implemented here:

- front end: batch norm of the log-mel input; "timbral" filters 7x38 and 7x67 (time x mel, 204 each,
  valid over mel, time zero-padded by 3) and "temporal" filters 128x1, 64x1, 32x1 (51 each, TF 'same'
  padding); each conv -> ReLU -> batch norm -> max over the mel axis; concatenated: 561 channels.
- mid end: three 1-D convs over time (kernel 7, 64 channels, zero-padded by 3), ReLU, batch norm,
  the 2nd and 3rd with residual connections; dense connection: concat(front end, 3 mid-end) = 753.
- back end: max and mean over time (interleaved per channel by TF's flatten: 1506 values), batch norm,
  dense 200 + ReLU, batch norm = "penultimate"; dense 50 -> sigmoid = tags.

Batch norms use the stored moving statistics (TF's default epsilon 1e-3); dropout is off.
Input: 16 kHz mono, 96-band mel power spectrogram (n_fft 512, hop 256, librosa's Slaney mel bank),
``log10(1 + 10000 mel)``, in 3-s patches of 187 frames without overlap (musicnn's extractor
defaults). musicnn's own extractor casts the mel spectrogram to float16, which overflows to inf on
loud frames (and then gives near-identical tags for every clip); this front end stays float32.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from songspace import audio, tfbundle

log = logging.getLogger("songspace")

SR = 16000  # Hz
N_FFT = 512  # samples
HOP = 256  # samples
N_MELS = 96
PATCH_FRAMES = 187  # config.json n_frames: librosa.time_to_frames(3 s) + 1
PATCH_HOP = 187  # extractor(input_overlap=False): patches do not overlap
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default
MODELS = ("MSD_musicnn", "MTT_musicnn")

# musicnn/configuration.py MSD_LABELS and MTT_LABELS, in output order
TAGS_MSD = ['rock', 'pop', 'alternative', 'indie', 'electronic', 'female vocalists', 'dance', '00s',
            'alternative rock', 'jazz', 'beautiful', 'metal', 'chillout', 'male vocalists', 'classic rock', 'soul',
            'indie rock', 'Mellow', 'electronica', '80s', 'folk', '90s', 'chill', 'instrumental', 'punk', 'oldies',
            'blues', 'hard rock', 'ambient', 'acoustic', 'experimental', 'female vocalist', 'guitar', 'Hip-Hop',
            '70s', 'party', 'country', 'easy listening', 'sexy', 'catchy', 'funk', 'electro', 'heavy metal',
            'Progressive rock', '60s', 'rnb', 'indie pop', 'sad', 'House', 'happy']
TAGS_MTT = ['guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock', 'fast', 'piano',
            'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian', 'opera', 'male', 'singing', 'vocals',
            'no vocals', 'harpsichord', 'loud', 'quiet', 'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft',
            'sitar', 'solo', 'man', 'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal',
            'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice', 'choral']
TAGS = {"MSD_musicnn": TAGS_MSD, "MTT_musicnn": TAGS_MTT}

# (name, kernel size over time) of the front end's convs, in the checkpoint's creation order
TIMBRAL = (("conv2d", 38), ("conv2d_1", 67))  # kernel (7, int(0.4*96)) and (7, int(0.7*96))
TEMPORAL = (("conv2d_2", 128), ("conv2d_3", 64), ("conv2d_4", 32))
MIDEND = ("conv2d_5", "conv2d_6", "conv2d_7")
N_TIMBRAL, N_TEMPORAL, N_MID, N_DENSE = 204, 51, 64, 200  # int(1.6*128), int(1.6*32), num_filt_midend, units


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


# ---------------------------------------------------------------- front end

def logmel(y16k: np.ndarray) -> np.ndarray:
    """musicnn's input representation, in float32.

    Same as ``musicnn.extractor.batch_data`` (``librosa.feature.melspectrogram`` with its defaults:
    centred zero-padded periodic-Hann STFT, power 2, Slaney mel bank and norm) without its float16 cast.

    Parameters
    ----------
    y16k : np.ndarray, shape (n_samples,)
        Mono audio at 16 kHz in [-1, 1].

    Returns
    -------
    X : np.ndarray, shape (1 + n_samples // 256, 96), float32
        ``log10(1 + 10000 * mel power)``, frames x mel bands (frame i centred at sample 256 i).
    """
    y = np.ascontiguousarray(y16k, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected mono audio of shape (n_samples,), got {y.shape}")
    p = audio.AudioParams(sr=SR, n_fft=N_FFT, hop_length=HOP)
    mel = audio._mel(audio._power_spec(y, p), SR, N_FFT, N_MELS)  # (96, n_frames), float64 FFT
    X = mel.T.astype(np.float32)
    X *= np.float32(10000.0)
    return np.log10(X + np.float32(1.0), dtype=np.float32)


def patch_starts(n_frames: int, max_patches: int | None = None) -> np.ndarray:
    """First frame of every 187-frame patch; a last partial patch is dropped (as musicnn's extractor).

    A signal shorter than one patch gets one patch (``patches`` repeat-pads it, as musicnn's training
    did; the extractor itself fails on such input). With ``max_patches``, a longer signal keeps that many
    patches of the same grid, evenly spaced (the centre one of each of ``max_patches`` equal stretches).

    Returns
    -------
    np.ndarray of int64, shape (n_patches,)
    """
    if max_patches is not None and max_patches < 1:
        raise ValueError(f"max_patches must be at least 1, got {max_patches}")
    if n_frames < PATCH_FRAMES:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_frames - PATCH_FRAMES + 1, PATCH_HOP, dtype=np.int64)
    if max_patches is not None and len(starts) > max_patches:
        starts = starts[((np.arange(max_patches) + 0.5) * len(starts) / max_patches).astype(np.int64)]
    return starts


def patches(X: np.ndarray, max_patches: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut a log-mel spectrogram into the network's input patches.

    Parameters
    ----------
    X : np.ndarray, shape (n_frames, 96)
    max_patches : int, optional
        Keep at most this many, evenly spaced (``patch_starts``).

    Returns
    -------
    P : np.ndarray, shape (n_patches, 187, 96), float32
    starts : np.ndarray of int64, shape (n_patches,)  (frames)
    """
    if len(X) == 0:
        raise ValueError("no frames")
    if len(X) < PATCH_FRAMES:
        X = np.tile(X, (-(-PATCH_FRAMES // len(X)), 1))[:PATCH_FRAMES]
    starts = patch_starts(len(X), max_patches)
    P = np.lib.stride_tricks.sliding_window_view(X, PATCH_FRAMES, axis=0)[starts]  # (n, 96, 187)
    return np.ascontiguousarray(P.transpose(0, 2, 1), dtype=np.float32), starts


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


class MusicnnModel:
    """A loaded musicnn model: ``embed`` audio into per-patch embeddings and tag probabilities.

    Parameters
    ----------
    model : str
        ``"MSD_musicnn"`` (Million Song Dataset tags) or ``"MTT_musicnn"`` (MagnaTagATune tags).
    prefix : str, optional
        Checkpoint prefix (default: the installed ``musicnn`` package's ``<pkg>/<model>/``, whose
        files are ``.index`` and ``.data-00000-of-00001`` in that folder).
    """

    def __init__(self, model: str = "MSD_musicnn", prefix=None):
        if model not in TAGS:
            raise ValueError(f"unknown musicnn model {model!r}; expected one of {MODELS}")
        self.name = model
        self.tags = list(TAGS[model])
        self.prefix = str(prefix) if prefix is not None else checkpoint_prefix(model)
        self.net = MusicnnNet(read_weights(self.prefix, len(self.tags))).eval()

    def forward_patches(self, P: np.ndarray, batch_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on log-mel patches.

        Parameters
        ----------
        P : np.ndarray, shape (n_patches, 187, 96)
        batch_size : int
            Patches per forward pass. 1 is fastest on one CPU thread: a patch's intermediate maps
            (~10 MB) already exceed the cache, and larger batches ran ~1.3x (2) to 2x (8) slower per patch.

        Returns
        -------
        penultimate : np.ndarray, shape (n_patches, 200), float32
        tags : np.ndarray, shape (n_patches, n_tags), float32, probabilities in [0, 1]
        """
        pen, tags = [], []
        with torch.no_grad():
            for i in range(0, len(P), batch_size):
                a, b = self.net(torch.from_numpy(np.ascontiguousarray(P[i:i + batch_size], dtype=np.float32)))
                pen.append(a.numpy())
                tags.append(b.numpy())
        if not pen:
            return np.zeros((0, N_DENSE), np.float32), np.zeros((0, len(self.tags)), np.float32)
        return np.concatenate(pen), np.concatenate(tags)

    def embed(self, y16k: np.ndarray, batch_size: int = 1, max_patches: int | None = None) -> dict[str, np.ndarray]:
        """Embed a mono 16 kHz signal, one row per 3-s patch.

        Torch runs on however many threads the caller set (``torch.set_num_threads``).

        Parameters
        ----------
        y16k : np.ndarray, shape (n_samples,)
            Mono audio at 16 kHz in [-1, 1] (at least one sample).
        batch_size : int
            Patches per forward pass.
        max_patches : int, optional
            Embed at most this many patches, evenly spaced over the signal (``patch_starts``).

        Returns
        -------
        dict
            ``penultimate`` (n_patches, 200) float32, ``tags`` (n_patches, 50) float32 probabilities,
            ``patch_starts_s`` (n_patches,) float64 seconds (patch i covers
            [start, start + 187 * 256 / 16000 s), about 3 s).
        """
        P, starts = patches(logmel(y16k), max_patches)
        pen, tags = self.forward_patches(P, batch_size)
        return dict(penultimate=pen, tags=tags, patch_starts_s=starts * (HOP / SR))


@functools.lru_cache(maxsize=None)
def load(model: str = "MSD_musicnn") -> MusicnnModel:
    """The musicnn ``model`` (``"MSD_musicnn"`` or ``"MTT_musicnn"``), read once per process."""
    log.info("loading %s weights from %s", model, checkpoint_prefix(model))
    return MusicnnModel(model)
