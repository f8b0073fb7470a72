"""Shared dataset behaviour: file list, per-item seeded randomness, sample -> tensors.

Each item's generator is ``numpy.random.default_rng([seed, epoch, index])``: the augmentation
of a frame depends only on those three numbers, not on worker count or loading order, and a
resumed run that calls ``set_epoch`` sees the same augmentations as an uninterrupted one.
Call ``set_epoch`` before each epoch, or index with ``(epoch, index)`` pairs: loader workers that
persist across epochs keep their own copy of the dataset and would not see ``set_epoch``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from segnet.data.classes import ClassSet
from segnet.data.io import check_label_values, check_same_size, read_label, read_rgb
from segnet.data.paste import ClassPaste, paste_arrays
from segnet.data.transforms import Sample, ToTensor, Transform


class SegmentationDataset(Dataset):
    """Base for datasets yielding ``(image float32 CxHxW, label int64 HxW)``.

    Subclasses fill ``classes`` and ``files`` and may override :meth:`load_label` (label in class
    index space, validated) and :meth:`load_sample` (untransformed PIL sample).
    """

    classes: ClassSet
    files: list[tuple[Path, Path]]
    paste: ClassPaste | None = None  # class copy-paste before the transforms (training sets only)

    def __init__(
        self, classes: ClassSet, files: list[tuple[Path, Path]], transform: Transform | None = None, seed: int = 0
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.classes = classes
        self.files = files
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.files)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentations of ``epoch`` (part of every item's random seed)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, index])

    def load_label(self, index: int) -> np.ndarray:
        """Label map of item ``index`` in class-index space (``0..n-1`` or ignore), before transforms."""
        path = self.files[index][1]
        label = read_label(path)
        check_label_values(label, self.classes.num_classes, self.classes.ignore_index, path)
        return label

    def load_sample(self, index: int) -> Sample:
        """Untransformed sample with size checks; subclasses add depth or decode colour masks."""
        image_path, label_path = self.files[index]
        image = read_rgb(image_path)
        label = self.load_label(index)
        check_same_size(image_path, image.size, label_path, (label.shape[1], label.shape[0]))
        return Sample.from_arrays(image, label)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch = None
        if isinstance(index, tuple):  # (epoch, index): that epoch's augmentation, whatever set_epoch said
            epoch, index = index
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        index = int(index) % n  # samplers may hand numpy ints; the rng wants the canonical index
        sample = self.load_sample(index)
        if self.paste is not None:
            sample = self._pasted(sample, index, self.epoch if epoch is None else epoch)
        if self.transform is not None:
            sample = self.transform(sample, self.rng(index, epoch))
        if not isinstance(sample.image, torch.Tensor):
            sample = ToTensor()(sample)
        image = sample.image
        if sample.depth is not None:
            image = torch.cat([image, sample.depth], dim=0)  # depth is the 4th input channel
        return image, sample.label

    def _pasted(self, sample: Sample, index: int, epoch: int) -> Sample:
        """``sample`` with another frame's pixels of the paste classes over it (see :mod:`segnet.data.paste`)."""
        drawn = self.paste.draw(self.seed, epoch, index, len(self))
        if drawn is None or sample.label is None:
            return sample
        if sample.depth is not None:
            raise ValueError("copy-paste does not support a depth channel; train without it")
        donor_index, mirror = drawn
        donor = self.load_sample(donor_index)
        size = sample.image.size
        donor_image = np.asarray(donor.image.convert("RGB").resize(size, Image.BILINEAR))
        donor_label = np.asarray(donor.label.resize(size, Image.NEAREST), dtype=np.int32)
        image, label = paste_arrays(np.asarray(sample.image.convert("RGB")), np.asarray(sample.label, dtype=np.int32),
                                    donor_image, donor_label, self.paste.classes, mirror)
        return Sample.from_arrays(Image.fromarray(image), label)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.classes.name}, {len(self)} items, seed={self.seed}, epoch={self.epoch})"
