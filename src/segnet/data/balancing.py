"""Median frequency class balancing, as used for the SegNet paper's CamVid and SUN RGB-D runs.

Following the paper (after Eigen & Fergus)::

    freq(c)   = pixels of class c / total pixels of the images in which c is present
    weight(c) = median(freq over the classes present) / freq(c)

Our choices where the paper is silent:
  * ignore-index pixels count neither in a class's pixels nor in an image's total, so void
    regions do not dilute the frequencies of the classes they touch;
  * a class that never occurs gets weight 0 (it has no frequency; a zero weight is harmless
    because its pixels do not exist) and is left out of the median;
  * ``numpy.median`` is used, so with an even number of present classes the median is the mean
    of the two middle frequencies.

Statistics read raw label maps (no transforms, no augmentation) through the dataset's
``load_label`` so dataset-specific decoding (SUN RGB-D's label shift, colour masks) applies.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from segnet.data.io import check_label_values, read_label


@runtime_checkable
class LabelSource(Protocol):
    """What the statistics need from a dataset (SegmentationDataset provides it)."""

    files: list[tuple[Path, Path]]

    def __len__(self) -> int: ...

    def load_label(self, index: int) -> np.ndarray: ...


def _labels(source: LabelSource | Iterable[str | Path], num_classes: int, ignore_index: int):
    if isinstance(source, LabelSource):
        for i in range(len(source)):
            yield source.load_label(i)
    else:
        for path in source:
            label = read_label(path)
            check_label_values(label, num_classes, ignore_index, path)
            yield label


def class_pixel_stats(
    source: LabelSource | Iterable[str | Path], num_classes: int, ignore_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per class: (pixels of the class, total non-ignore pixels of images containing it), int64."""
    class_pixels = np.zeros(num_classes, dtype=np.int64)
    image_pixels = np.zeros(num_classes, dtype=np.int64)
    for label in _labels(source, num_classes, ignore_index):
        flat = label.ravel()
        flat = flat[flat != ignore_index]
        counts = np.bincount(flat, minlength=num_classes)[:num_classes]
        class_pixels += counts
        image_pixels[counts > 0] += int(counts.sum())
    return class_pixels, image_pixels


def weights_from_stats(class_pixels: np.ndarray, image_pixels: np.ndarray) -> torch.Tensor:
    """Median frequency weights from :func:`class_pixel_stats`; absent classes get 0."""
    class_pixels = np.asarray(class_pixels, dtype=np.float64)
    image_pixels = np.asarray(image_pixels, dtype=np.float64)
    present = class_pixels > 0
    weights = np.zeros_like(class_pixels)
    if present.any():
        freq = class_pixels[present] / image_pixels[present]
        weights[present] = np.median(freq) / freq
    return torch.tensor(weights, dtype=torch.float32)


def median_frequency_weights(
    source: LabelSource | Iterable[str | Path], num_classes: int | None = None, ignore_index: int | None = None
) -> torch.Tensor:
    """Class weights (float32, length ``num_classes``) for a dataset or a list of label files.

    With a dataset, ``num_classes`` and ``ignore_index`` default to its ``classes``.
    """
    classes = getattr(source, "classes", None)
    if num_classes is None or ignore_index is None:
        if classes is None:
            raise ValueError("give num_classes and ignore_index when passing label paths")
        num_classes = classes.num_classes if num_classes is None else num_classes
        ignore_index = classes.ignore_index if ignore_index is None else ignore_index
    return weights_from_stats(*class_pixel_stats(source, num_classes, ignore_index))


def _cache_key(dataset: LabelSource) -> str:
    """Hash of the dataset type, class set and every label file's path, size and mtime."""
    classes = getattr(dataset, "classes", None)
    h = hashlib.sha256()
    h.update(type(dataset).__name__.encode())
    h.update(json.dumps(classes.to_dict() if classes is not None else None, sort_keys=True).encode())
    for _, label_path in dataset.files:
        st = os.stat(label_path)
        h.update(f"\n{Path(label_path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def cached_median_frequency_weights(dataset: LabelSource, cache_dir: str | Path) -> torch.Tensor:
    """:func:`median_frequency_weights` of ``dataset``, cached as JSON in ``cache_dir``.

    The cache file name holds a hash of the label files (paths, sizes, mtimes), so editing,
    adding or removing a label recomputes the weights.
    """
    cache_dir = Path(cache_dir)
    path = cache_dir / f"mfb_{_cache_key(dataset)}.json"
    if path.is_file():
        try:
            return torch.tensor(json.loads(path.read_text())["weights"], dtype=torch.float32)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable cache: recompute and overwrite
    classes = dataset.classes  # type: ignore[attr-defined]
    class_pixels, image_pixels = class_pixel_stats(dataset, classes.num_classes, classes.ignore_index)
    weights = weights_from_stats(class_pixels, image_pixels)
    record = {
        "dataset": type(dataset).__name__,
        "classes": classes.names,
        "num_files": len(dataset.files),
        "class_pixels": class_pixels.tolist(),
        "image_pixels": image_pixels.tolist(),
        "weights": weights.tolist(),
    }
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)  # atomic: concurrent ranks never read a half-written file
    except OSError as error:  # the cache only saves time: go on without it
        warnings.warn(f"{cache_dir}: cannot write the class-weight cache ({error.strerror or error}); "
                      "the weights will be recomputed next time (set SEGNET_CACHE to a writable folder)",
                      stacklevel=2)
    return weights
