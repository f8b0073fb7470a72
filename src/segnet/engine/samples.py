"""Pictures of a few predictions: image | ground truth | prediction | errors, one row per image.

Written by ``segnet evaluate`` (``samples/<stem>.png``) and by training at every validation
(``samples/epoch_NNNN.png``), because a metric says how much is wrong and a picture says where.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..data.classes import ClassSet

CORRECT_SHADE = 0.35  # correct pixels: the photo, darkened, so that the red errors stand out
ERROR_COLOR = (255, 0, 0)


def denormalize(image: Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised CxHxW tensor back to HxWx3 uint8 (the first three channels: RGB)."""
    rgb = image[:3].detach().float().cpu()
    mean_t = torch.tensor(mean[:3], dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std[:3], dtype=torch.float32).view(-1, 1, 1)
    pixels = (rgb * std_t + mean_t).clamp(0, 1).mul(255).round().to(torch.uint8)
    return pixels.permute(1, 2, 0).numpy()


def error_map(image: np.ndarray, label: np.ndarray, prediction: np.ndarray, ignore_index: int) -> np.ndarray:
    """Red where the prediction is wrong, the darkened photo where right, black where unlabelled."""
    out = (image.astype(np.float32) * CORRECT_SHADE).round().astype(np.uint8)
    wrong = (prediction != label) & (label != ignore_index)
    out[wrong] = ERROR_COLOR
    out[label == ignore_index] = 0
    return out


def sample_row(image: np.ndarray, label: np.ndarray, prediction: np.ndarray, classes: ClassSet) -> np.ndarray:
    """[image | ground truth | prediction | errors] side by side, HxW4x3 uint8."""
    return np.concatenate([image, classes.colorize(label), classes.colorize(prediction),
                           error_map(image, label, prediction, classes.ignore_index)], axis=1)


class SampleCollector:
    """Keeps (image, label, prediction) of chosen dataset indices as an evaluation passes them."""

    def __init__(self, indices: Sequence[int], mean: Sequence[float], std: Sequence[float]) -> None:
        self.indices = set(indices)
        self.mean, self.std = mean, std
        self.samples: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, index: int, image: Tensor, label: Tensor, prediction: Tensor) -> None:
        if index in self.indices:
            self.samples[index] = (denormalize(image, self.mean, self.std), label.cpu().numpy(),
                                   prediction.cpu().numpy())

    def rows(self, classes: ClassSet) -> list[tuple[int, np.ndarray]]:
        return [(index, sample_row(*self.samples[index], classes)) for index in sorted(self.samples)]


def write_panel(rows: Sequence[np.ndarray], path: str | Path, scale: float = 1.0) -> Path:
    """Stack rows (padded to the widest) into one PNG, optionally shrunk by ``scale``."""
    path = Path(path)
    width = max(row.shape[1] for row in rows)
    padded = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows]
    picture = Image.fromarray(np.concatenate(padded, axis=0))
    if scale != 1.0:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    picture.save(tmp, format="PNG")
    tmp.replace(path)
    return path
