"""What ``Segmenter.predict`` returns: the labels of one image with what is needed to look at them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .data.classes import ClassSet


def blend(image: np.ndarray, colors: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``round((1 - alpha) * image + alpha * colors)`` as uint8: the overlay every output uses."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (share of the class colours in the overlay), got {alpha}")
    mixed = (1 - alpha) * image[..., :3].astype(np.float32) + alpha * colors.astype(np.float32)
    return mixed.round().clip(0, 255).astype(np.uint8)


@dataclass(eq=False)
class Result:
    """One image's segmentation.

    ``labels`` (HxW uint8 class indices) are at the image's own size; ``probs`` (K x H x W float32)
    only when asked for with ``return_probs=True``. ``np.asarray(result)`` gives the labels.
    """

    labels: np.ndarray
    image: np.ndarray  # HxWx3 uint8, as the model saw it (EXIF orientation applied)
    classes: ClassSet
    probs: np.ndarray | None = None
    path: Path | None = None  # the file it came from, if any
    ms: float = 0.0  # model time for this image (a batch's time shared evenly)

    @property
    def names(self) -> list[str]:
        return list(self.classes.names)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.labels if dtype is None else self.labels.astype(dtype)

    def color(self) -> np.ndarray:
        """HxWx3 uint8: the labels in the class palette."""
        return self.classes.colorize(self.labels)

    def plot(self, alpha: float = 0.5, hide: tuple[str | int, ...] = ()) -> np.ndarray:
        """HxWx3 uint8: the class colours blended over the image; classes in ``hide`` stay unpainted."""
        colors = self.color()
        painted = np.ones(self.labels.shape, dtype=bool)
        for cls in hide:
            painted &= self.labels != self._class_index(cls)
        out = blend(self.image, colors, alpha)
        out[~painted] = self.image[..., :3][~painted]
        return out

    def shares(self) -> dict[str, float]:
        """Fraction of the image's pixels given to each class, largest first."""
        counts = np.bincount(self.labels.ravel(), minlength=self.classes.num_classes)[: self.classes.num_classes]
        total = max(int(self.labels.size), 1)
        pairs = [(name, float(count) / total) for name, count in zip(self.classes.names, counts)]
        return dict(sorted(pairs, key=lambda pair: -pair[1]))

    def save(self, out_dir: str | Path, stem: str | None = None, alpha: float = 0.5) -> dict[str, Path]:
        """Write ``labels/``, ``color/`` and ``overlay/<stem>.png`` under ``out_dir`` (as ``segnet predict``)."""
        if stem is None:
            stem = self.path.stem if self.path is not None else "image"
        out_dir = Path(out_dir)
        written = {}
        for kind, array in (("labels", self.labels), ("color", self.color()), ("overlay", self.plot(alpha))):
            target = out_dir / kind / f"{stem}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(target)
            written[kind] = target
        return written

    def _class_index(self, cls: str | int) -> int:
        if isinstance(cls, (int, np.integer)):
            if not 0 <= int(cls) < self.classes.num_classes:
                raise ValueError(f"class index {cls} is outside 0..{self.classes.num_classes - 1}")
            return int(cls)
        lowered = [name.lower() for name in self.classes.names]
        if str(cls).lower() not in lowered:
            raise ValueError(f"class '{cls}' is not one of {', '.join(self.classes.names)}")
        return lowered.index(str(cls).lower())

    def __repr__(self) -> str:
        height, width = self.labels.shape
        top = ", ".join(f"{name} {share:.0%}" for name, share in list(self.shares().items())[:3])
        source = f"path='{self.path}', " if self.path is not None else ""
        probs = ", probs" if self.probs is not None else ""
        return f"Result({source}{height}x{width}, {self.classes.name} ({self.classes.num_classes} classes){probs}: {top})"
