"""Class copy-paste: the pixels of chosen (rare) classes of another training frame pasted in place.

Three drives are all of CamVid's training data, so a bicyclist or pedestrian is only ever seen in
the few streets it was filmed in. Pasting the pixels of those classes from another frame, at the
same place (road scenes share the camera's height and horizon, so a rider stays on the road), puts
them in front of other backgrounds. The donor is mirrored at random, so objects also change side.

The draws come from their own generator, ``default_rng([seed, epoch, index, 1])``, apart from the
transforms' ``[seed, epoch, index]``: turning pasting on leaves every other augmentation as it was,
and the CPU loader and the device augmenter paste the same donors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segnet.data.classes import ClassSet


@dataclass(frozen=True)
class ClassPaste:
    """Paste ``classes`` (label values) from a random other frame with probability ``p``."""

    classes: tuple[int, ...]
    p: float = 0.5

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("copy-paste needs at least one class to paste")
        if not 0 < self.p <= 1:
            raise ValueError(f"copy-paste probability must be in (0, 1], got {self.p}")

    def draw(self, seed: int, epoch: int, index: int, count: int) -> tuple[int, bool] | None:
        """``(donor index, mirror the donor)`` for item ``index`` of ``count`` in ``epoch``, or None (no paste)."""
        if count < 2:
            return None
        rng = np.random.default_rng([seed, epoch, index, 1])
        if rng.random() >= self.p:
            return None
        donor = int(rng.integers(0, count - 1))
        donor += donor >= index  # any frame but the item itself
        return donor, bool(rng.random() < 0.5)


def paste_by_name(classes: ClassSet, names: Sequence[str], p: float) -> ClassPaste:
    """A :class:`ClassPaste` from class names (case-insensitive); an unknown name raises ValueError."""
    lookup = {name.lower(): i for i, name in enumerate(classes.names)}
    unknown = [name for name in names if name.strip().lower() not in lookup]
    if unknown:
        raise ValueError(f"copy-paste class(es) {', '.join(unknown)} not in {classes.name}'s classes: "
                         f"{', '.join(classes.names)}")
    return ClassPaste(tuple(sorted({lookup[name.strip().lower()] for name in names})), p)


def paste_arrays(image: np.ndarray, label: np.ndarray, donor_image: np.ndarray, donor_label: np.ndarray,
                 classes: Sequence[int], mirror: bool) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (HxWx3) and ``label`` (HxW) with the donor's pixels of ``classes`` pasted over them.

    The donor must already have the item's size; ``mirror`` flips it left to right first.
    """
    if mirror:
        donor_image, donor_label = donor_image[:, ::-1], donor_label[:, ::-1]
    mask = np.isin(donor_label, classes)
    image, label = image.copy(), label.copy()
    image[mask] = donor_image[mask]
    label[mask] = donor_label[mask]
    return image, label
