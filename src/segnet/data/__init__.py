"""Datasets, joint transforms and class balancing for SegNet. A leaf: imports no other segnet part.

Every dataset yields ``(image float32 CxHxW, label int64 HxW)`` with ``classes`` (a
:class:`ClassSet`, whose ``ignore_index`` marks pixels to leave out of loss and metrics) and
``files``; augmentations are seeded by ``(seed, epoch, index)``, see :mod:`segnet.data.base`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segnet.data.balancing import (
    cached_median_frequency_weights,
    class_pixel_stats,
    median_frequency_weights,
    weights_from_stats,
)
from segnet.data.base import SegmentationDataset
from segnet.data.camvid import CamVid
from segnet.data.classes import CAMVID, ClassSet, load_classes_file
from segnet.data.classes import SUNRGBD as SUNRGBD_CLASSES
from segnet.data.folder import FolderDataset
from segnet.data.io import DataError, read_label, read_rgb
from segnet.data.sunrgbd import SUNRGBD
from segnet.data.sequences import first_frames, frame_sequence, select_sequences
from segnet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ColorJitter,
    Compose,
    Normalize,
    RandomHorizontalFlip,
    RandomScaleCrop,
    Resize,
    Sample,
    ToTensor,
    Transform,
    eval_transform,
    train_transform,
)

CAMVID_CLASSES = CAMVID
CLASS_SETS: dict[str, ClassSet] = {"camvid": CAMVID, "sunrgbd": SUNRGBD_CLASSES}
DATASETS: dict[str, type[SegmentationDataset]] = {"camvid": CamVid, "sunrgbd": SUNRGBD, "folder": FolderDataset}

# src/segnet/data/__init__.py -> repository root is three folders up from this package.
_REPO_ROOT = Path(__file__).resolve().parents[3]


def default_root(name: str) -> Path:
    """Where dataset ``name`` lives: ``$SEGNET_<NAME>``; else ``../shared/<name>`` from the working
    directory or, in a source checkout, from the repository root; else the user data folder
    ``$XDG_DATA_HOME/segnet/<name>`` (``~/.local/share/segnet/<name>``). Returned even if absent,
    so the dataset's own error names the path it tried."""
    env = os.environ.get(f"SEGNET_{name.upper()}")
    if env:
        return Path(env).expanduser()
    candidates = [Path.cwd() / ".." / "shared" / name]
    if (_REPO_ROOT / "pyproject.toml").is_file():  # a checkout, not an installed wheel
        candidates.append(_REPO_ROOT / ".." / "shared" / name)
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share").expanduser()
    return data_home / "segnet" / name


def build_dataset(
    name: str,
    root: str | Path | None = None,
    split: str | None = "train",
    transform: Transform | None = None,
    seed: int = 0,
    **kw: Any,
) -> SegmentationDataset:
    """Construct dataset ``name`` (``camvid``, ``sunrgbd``, ``folder``); ``root`` None -> :func:`default_root`.

    ``split`` may join several splits with ``+`` (``train+val``): one dataset over all their
    frames, in that order. Extra keywords go to the dataset (``use_depth`` for sunrgbd,
    ``classes_file`` for folder).
    """
    if split is not None and "+" in split:
        parts = [part.strip() for part in split.split("+")]
        if not all(parts) or len(set(parts)) != len(parts):
            raise ValueError(f"split {split!r}: expected distinct split names joined by '+', e.g. 'train+val'")
        joined = build_dataset(name, root, parts[0], transform, seed, **kw)
        for part in parts[1:]:
            joined.files = joined.files + build_dataset(name, root, part, None, seed, **kw).files
        if hasattr(joined, "split"):
            joined.split = split
        return joined
    key = name.lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    root = default_root(key) if root is None else Path(root)
    if key == "folder":
        return FolderDataset(root, transform=transform, seed=seed, split=split, **kw)
    if split is None:
        raise ValueError(f"dataset {name!r} needs a split (e.g. 'train', 'val')")
    return DATASETS[key](root, split, transform=transform, seed=seed, **kw)


__all__ = [
    "CAMVID", "CAMVID_CLASSES", "CLASS_SETS", "DATASETS", "IMAGENET_MEAN", "IMAGENET_STD", "SUNRGBD",
    "SUNRGBD_CLASSES", "CamVid", "ClassSet", "Compose", "DataError", "FolderDataset", "Normalize",
    "ColorJitter", "RandomHorizontalFlip", "RandomScaleCrop", "Resize", "Sample", "SegmentationDataset", "ToTensor",
    "Transform", "build_dataset", "cached_median_frequency_weights", "class_pixel_stats", "default_root",
    "eval_transform", "first_frames", "frame_sequence", "load_classes_file", "median_frequency_weights",
    "read_label", "read_rgb", "select_sequences", "train_transform", "weights_from_stats",
]
