"""The images int8 calibration sees: a few frames spread over a dataset split, at the working size.

Shared by ``segnet quantize`` (the native int8 path) and ``segnet export --precision int8``
(ONNX QDQ, OpenVINO), so every int8 model of one checkpoint is calibrated on the same frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch.nn.functional as F
from torch import Tensor

from .data import build_dataset, eval_transform
from .spacing import evenly_spaced


def calibration_images(dataset: str, root: str | None, split: str, count: int, size: tuple[int, int] | None,
                       mean: Sequence[float], std: Sequence[float], num_classes: int, source: str = "checkpoint",
                       **options) -> Iterator[Tensor]:
    """1 x C x H x W normalised batches of ``count`` frames of ``split``, resized to ``size``."""
    frames = build_dataset(dataset, root, split, eval_transform(None, mean, std), 0, **options)
    if frames.classes.num_classes != num_classes:
        raise ValueError(f"{source}: {num_classes} classes, the dataset has {frames.classes.num_classes}")
    for index in evenly_spaced(count, len(frames)):
        image = frames[index][0][None]
        if size is not None and tuple(image.shape[-2:]) != tuple(size):
            image = F.interpolate(image, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        yield image
