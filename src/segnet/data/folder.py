"""A generic dataset: a folder of images, a folder of masks and a ``classes.json``.

Layout (``split`` optional; the classes file is looked up in ``<root>/<split>`` then ``<root>``)::

    <root>/[<split>/]images/*.png|jpg
    <root>/[<split>/]masks/*.png        matched to images by file stem
    <root>/classes.json                 format: see segnet.data.classes

Masks may be either
  * single-channel (8/16-bit grey or palette PNG): pixel value = class index, or the ignore value;
  * RGB colour-coded: each colour is looked up in the class palette. Colours listed under
    ``void_colors`` in the classes file become the ignore index; any other unknown colour is a
    DataError naming the file and the colour (an unlisted colour is usually a palette mistake,
    and silently ignoring it would drop a class from training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segnet.data.base import SegmentationDataset
from segnet.data.classes import ClassSet, load_classes_file
from segnet.data.io import DataError, check_label_values, list_images, match_by_stem, read_label
from segnet.data.transforms import Transform


def decode_color_mask(rgb: np.ndarray, classes: ClassSet, path: str | Path) -> np.ndarray:
    """Map an ``HxWx3`` colour mask to class indices via the palette (void colours -> ignore)."""
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colors = list(classes.colors) + list(classes.void_colors)
    values = list(range(classes.num_classes)) + [classes.ignore_index] * len(classes.void_colors)
    palette_keys = np.array([(r << 16) | (g << 8) | b for r, g, b in colors], dtype=np.int64)
    order = np.argsort(palette_keys)
    sorted_keys, sorted_values = palette_keys[order], np.asarray(values, dtype=np.int64)[order]
    pos = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
    known = sorted_keys[pos] == keys
    if not known.all():
        unknown = np.unique(keys[~known])
        shown = ", ".join(f"({k >> 16}, {(k >> 8) & 255}, {k & 255})" for k in unknown[:5].tolist())
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise DataError(
            f"{path}: mask colour(s) {shown}{more} are not in the class palette; add them to the classes "
            "file's colors, or to void_colors to ignore them"
        )
    label = sorted_values[pos]
    return label.astype(np.uint8) if 0 <= classes.ignore_index <= 255 else label.astype(np.int32)


class FolderDataset(SegmentationDataset):
    """Images and masks matched by stem, with the classes from a ``classes.json``."""

    def __init__(
        self,
        root: str | Path,
        classes_file: str | Path | None = None,
        transform: Transform | None = None,
        seed: int = 0,
        split: str | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder not found; expected images/, masks/ and classes.json")
        base = self.root / split if split else self.root
        layout = f"expected {base}/images/ and {base}/masks/ with files matched by stem"
        if classes_file is None:
            candidates = [base / "classes.json", self.root / "classes.json"]
            classes_file = next((p for p in candidates if p.is_file()), candidates[-1])
        classes = load_classes_file(classes_file)
        image_dir, mask_dir = base / "images", base / "masks"
        for d in (image_dir, mask_dir):
            if not d.is_dir():
                raise DataError(f"{d}: folder not found; {layout}")
        images = list_images(image_dir)
        if not images:
            raise DataError(f"{image_dir}: no images found; {layout}")
        files = list(zip(images, match_by_stem(images, mask_dir, "mask"), strict=True))
        super().__init__(classes, files, transform, seed)

    def load_label(self, index: int) -> np.ndarray:
        """Single-channel masks are indices (validated); RGB masks are decoded through the palette."""
        path = self.files[index][1]
        mask = read_label(path, allow_color=True)
        if mask.ndim == 3:
            return decode_color_mask(mask, self.classes, path)
        check_label_values(mask, self.classes.num_classes, self.classes.ignore_index, path)
        return mask
