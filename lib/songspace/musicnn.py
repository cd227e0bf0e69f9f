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


def patch_starts(n_frames: int) -> np.ndarray:
    """First frame of every 187-frame patch; a last partial patch is dropped (as musicnn's extractor).

    A signal shorter than one patch gets one patch (``patches`` repeat-pads it, as musicnn's training
    did; the extractor itself fails on such input).

    Returns
    -------
    np.ndarray of int64, shape (n_patches,)
    """
    if n_frames < PATCH_FRAMES:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, n_frames - PATCH_FRAMES + 1, PATCH_HOP, dtype=np.int64)


def patches(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut a log-mel spectrogram into the network's input patches.

    Parameters
    ----------
    X : np.ndarray, shape (n_frames, 96)

    Returns
    -------
    P : np.ndarray, shape (n_patches, 187, 96), float32
    starts : np.ndarray of int64, shape (n_patches,)  (frames)
    """
    if len(X) == 0:
        raise ValueError("no frames")
    if len(X) < PATCH_FRAMES:
        X = np.tile(X, (-(-PATCH_FRAMES // len(X)), 1))[:PATCH_FRAMES]
    starts = patch_starts(len(X))
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


class MusicnnNet(torch.nn.Module):
    """musicnn's graph in inference mode; ``forward(x)`` with x (batch, 187, 96) log-mel patches
    returns (penultimate (batch, 200), tag probabilities (batch, n_classes))."""

    def __init__(self, w: dict[str, np.ndarray]):
        super().__init__()
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        self.bn_in = _bn(w, 0)
        # conv2d kernels HWIO (time, mel, 1, out) -> torch OIHW (out, 1, time, mel)
        self.timbral = [(t(w[f"{n}/kernel"].transpose(3, 2, 0, 1)), t(w[f"{n}/bias"]), _bn(w, 1 + i))
                        for i, (n, _) in enumerate(TIMBRAL)]
        self.temporal = [(t(w[f"{n}/kernel"].transpose(3, 2, 0, 1)), t(w[f"{n}/bias"]), _bn(w, 3 + i), _same_pad(k))
                         for i, (n, k) in enumerate(TEMPORAL)]
        # mid-end kernels (7, C_in, 1, out) act as 1-D convs over time: torch (out, C_in, 7)
        self.midend = [(t(w[f"{n}/kernel"][:, :, 0, :].transpose(2, 1, 0)), t(w[f"{n}/bias"]), _bn(w, 6 + i))
                       for i, n in enumerate(MIDEND)]
        self.bn_pool = _bn(w, 9)
        self.dense = (t(w["dense/kernel"].T), t(w["dense/bias"]))
        self.bn_dense = _bn(w, 10)
        self.out = (t(w["dense_1/kernel"].T), t(w["dense_1/bias"]))

    @staticmethod
    def _pool_bn(conv: torch.Tensor, bias: torch.Tensor, bn) -> torch.Tensor:
        """ReLU -> batch norm -> max over mel of a conv map (batch, C, time, mel) without its bias,
        reordered as max -> bias -> ReLU -> affine (exact: ReLU is monotone, and the affine is
        monotone per channel; where its scale is negative the max becomes a min)."""
        scale, shift = bn
        hi = torch.relu(conv.amax(dim=3) + bias[:, None])
        if (scale < 0).any():
            lo = torch.relu(conv.amin(dim=3) + bias[:, None])
            hi = torch.where(scale[:, None] >= 0, hi, lo)
        return hi * scale[:, None] + shift[:, None]

    def frontend(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, time, 96) -> (batch, 561, time)."""
        scale, shift = self.bn_in
        xi = (x * scale + shift).unsqueeze(1)  # (batch, 1, time, mel)
        out = []
        padded = F.pad(xi, (0, 0, 3, 3))
        for k, b, bn in self.timbral:
            out.append(self._pool_bn(F.conv2d(padded, k), b, bn))
        for k, b, bn, (before, after) in self.temporal:
            out.append(self._pool_bn(F.conv2d(F.pad(xi, (0, 0, before, after)), k), b, bn))
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
        self.name = model
        self.tags = list(TAGS[model])
        self.prefix = str(prefix) if prefix is not None else checkpoint_prefix(model)
        self.net = MusicnnNet(read_weights(self.prefix, len(self.tags))).eval()

    def forward_patches(self, P: np.ndarray, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on log-mel patches.

        Parameters
        ----------
        P : np.ndarray, shape (n_patches, 187, 96)
        batch_size : int
            Patches per forward pass (memory ~10 MB per patch).

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

    def embed(self, y16k: np.ndarray, batch_size: int = 16) -> dict[str, np.ndarray]:
        """Embed a mono 16 kHz signal, one row per 3-s patch.

        Torch runs on however many threads the caller set (``torch.set_num_threads``).

        Parameters
        ----------
        y16k : np.ndarray, shape (n_samples,)
            Mono audio at 16 kHz in [-1, 1] (at least one sample).
        batch_size : int
            Patches per forward pass.

        Returns
        -------
        dict
            ``penultimate`` (n_patches, 200) float32, ``tags`` (n_patches, 50) float32 probabilities,
            ``patch_starts_s`` (n_patches,) float64 seconds (patch i covers
            [start, start + 187 * 256 / 16000 s), about 3 s).
        """
        P, starts = patches(logmel(y16k))
        pen, tags = self.forward_patches(P, batch_size)
        return dict(penultimate=pen, tags=tags, patch_starts_s=starts * (HOP / SR))


@functools.lru_cache(maxsize=None)
def load(model: str = "MSD_musicnn") -> MusicnnModel:
    """The musicnn ``model`` (``"MSD_musicnn"`` or ``"MTT_musicnn"``), read once per process."""
    log.info("loading %s weights from %s", model, checkpoint_prefix(model))
    return MusicnnModel(model)
