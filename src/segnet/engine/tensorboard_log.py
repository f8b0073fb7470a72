"""Optional TensorBoard log of a training run (``--tensorboard``), beside metrics.csv and the plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..extras import require

# metrics.csv column -> TensorBoard tag
SCALARS = {"train_loss": "train/loss", "lr": "train/lr", "images_per_s": "train/images_per_s",
           "val_global_accuracy": "val/global_accuracy", "val_class_accuracy": "val/class_accuracy",
           "val_miou": "val/miou"}


class TensorBoardLog:
    """Writes each epoch's row of metrics.csv and the validation samples to ``run_dir/tensorboard``."""

    def __init__(self, run_dir: str | Path) -> None:
        require("tensorboard", "--tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def epoch(self, row: dict[str, Any], step: int) -> None:
        for column, tag in SCALARS.items():
            value = row.get(column)
            if value not in (None, ""):
                self.writer.add_scalar(tag, float(value), global_step=step)
        self.writer.flush()

    def samples(self, panel: np.ndarray, step: int) -> None:
        self.writer.add_image("val/samples", panel, global_step=step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
