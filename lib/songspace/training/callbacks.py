"""What ``fit`` calls at the end of each epoch: the :class:`Callback` interface and a TensorBoard logger.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from songspace.models.base import BaseVAE

# A callback is an object with ``on_epoch_end(epoch, logs, model)`` or such a function itself.
Callback = Callable[[int, dict, BaseVAE], None]


class TensorBoardLogger:
    """``on_epoch_end`` callback writing each epoch's numbers as TensorBoard scalars.

    Tags: ``loss/train``, ``loss/val``, ``recon/...``, ``kl/...``, ``elbo_loss/val``, ``beta``, ``lr``,
    ``active_units``, ``seconds``, ``elapsed``; pretraining epochs under ``pretrain/``. Step = epoch
    within its phase.

    Parameters
    ----------
    log_dir : path
        Folder of the event files (created).
    """

    def __init__(self, log_dir):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # torch raises this when the tensorboard package is missing
            raise ImportError("TrainConfig(tensorboard=True) needs the tensorboard package: "
                              "pip install tensorboard (or install songspace with the [dev] extra)") from e
        self.writer = SummaryWriter(log_dir=str(log_dir))

    @staticmethod
    def tag(key: str, phase: str) -> str:
        split, _, metric = key.partition("_")
        name = f"{metric}/{split}" if split in ("train", "val") and metric else key
        return f"pretrain/{name}" if phase == "pretrain" else name

    def on_epoch_end(self, epoch: int, logs: dict, model) -> None:
        phase = logs.get("phase", "elbo")
        for key, value in logs.items():
            if key not in ("epoch", "phase") and isinstance(value, (int, float)) and np.isfinite(value):
                self.writer.add_scalar(self.tag(key, phase), value, epoch)
        self.writer.flush()  # a live TensorBoard sees every epoch as it ends

    def close(self) -> None:
        self.writer.close()
