"""musicnn (Pons & Serra, 2019) as a pretrained audio embedding, in torch, without TensorFlow.

The weights are the TF1 checkpoints that the ``musicnn`` package ships (install it with
``pip install --no-deps musicnn==0.1.0``: its metadata pulls TensorFlow 1.x, which the port does not
need). They are read with ``songspace.features.tfbundle`` and checked against the architecture of
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
import logging

import numpy as np
import torch

from songspace.features import audio, descriptors
from songspace.features.musicnn_net import MODELS, N_DENSE, MusicnnNet, checkpoint_prefix, read_weights

log = logging.getLogger("songspace")

SR = 16000  # Hz
N_FFT = 512  # samples
HOP = 256  # samples
N_MELS = 96
PATCH_FRAMES = 187  # config.json n_frames: librosa.time_to_frames(3 s) + 1
PATCH_HOP = 187  # extractor(input_overlap=False): patches do not overlap

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
    mel = descriptors._mel(descriptors._power_spec(y, p), SR, N_FFT, N_MELS)  # (96, n_frames), float64 FFT
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
