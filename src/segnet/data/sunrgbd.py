"""SUN RGB-D (37 indoor classes) in the common preprocessed layout, optionally with depth.

Layout under ``root`` for a split ``s`` (``train``, ``test``), files matched by stem::

    s/rgb/*.jpg|png     RGB images (sizes vary; use a transform with a fixed size to batch)
    s/label/*.png       single-channel labels: 0 = void, 1..37 = classes
    s/depth/*.png       16-bit depth in millimetres, 0 = no reading (only with use_depth)

Labels are shifted down by one on load, so classes are 0..36 (the order of
``segnet.data.classes.SUNRGBD``) and void becomes the ignore index 255.

Depth, with ``use_depth``: millimetres are clipped to ``MAX_DEPTH_MM`` (10 m, beyond the
sensors' range) and divided by it, giving [0, 1]; ``Normalize`` then maps that to [-1, 1]. The
depth goes through the same flips, scales and crops as the RGB image and is appended as the 4th
input channel. Depth PNGs from the raw SUN RGB-D toolbox (bit-rotated values) must be converted
to plain millimetres first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segnet.data.base import SegmentationDataset
from segnet.data.classes import SUNRGBD as SUNRGBD_CLASSES
from segnet.data.io import DataError, check_same_size, list_images, match_by_stem, read_depth, read_label, read_rgb
from segnet.data.transforms import Sample, Transform

MAX_DEPTH_MM = 10_000.0
_LAYOUT = "expected <root>/{s}/rgb/, <root>/{s}/label/ and (with depth) <root>/{s}/depth/, matched by file stem"


class SUNRGBD(SegmentationDataset):
    """SUN RGB-D split as ``(image 3xHxW or 4xHxW with depth, label HxW int64)``; 255 ignored."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Transform | None = None,
        seed: int = 0,
        use_depth: bool = False,
    ) -> None:
        self.root, self.split, self.use_depth = Path(root), split, use_depth
        layout = _LAYOUT.format(s=split)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: SUN RGB-D root not found; {layout}")
        base = self.root / split
        folders = {"rgb": base / "rgb", "label": base / "label"}
        if use_depth:
            folders["depth"] = base / "depth"
        for d in folders.values():
            if not d.is_dir():
                raise DataError(f"{d}: SUN RGB-D folder not found; {layout}")
        images = list_images(folders["rgb"])
        if not images:
            raise DataError(f"{folders['rgb']}: SUN RGB-D split {split!r} has no images; {layout}")
        files = list(zip(images, match_by_stem(images, folders["label"], "label"), strict=True))
        self.depth_files: list[Path] | None = None
        if use_depth:
            self.depth_files = match_by_stem(images, folders["depth"], "depth")
        super().__init__(SUNRGBD_CLASSES, files, transform, seed)

    def load_label(self, index: int) -> np.ndarray:
        """Read the 0..37 label file and shift it to 0..36, void (0) becoming 255."""
        path = self.files[index][1]
        raw = read_label(path)
        n = self.classes.num_classes
        bad = (raw < 0) | (raw > n)
        if bad.any():
            shown = ", ".join(str(int(v)) for v in np.unique(raw[bad])[:10])
            raise DataError(f"{path}: label values {shown} outside 0..{n} (0 = void, 1..{n} = classes)")
        label = raw.astype(np.int32) - 1
        label[label < 0] = self.classes.ignore_index
        return label.astype(np.uint8)

    def load_sample(self, index: int) -> Sample:
        image_path, label_path = self.files[index]
        image = read_rgb(image_path)
        label = self.load_label(index)
        check_same_size(image_path, image.size, label_path, (label.shape[1], label.shape[0]))
        depth = None
        if self.depth_files is not None:
            depth_path = self.depth_files[index]
            depth_mm = read_depth(depth_path)
            check_same_size(image_path, image.size, depth_path, (depth_mm.shape[1], depth_mm.shape[0]))
            depth = np.clip(depth_mm, 0.0, MAX_DEPTH_MM) / MAX_DEPTH_MM
        return Sample.from_arrays(image, label, depth)
