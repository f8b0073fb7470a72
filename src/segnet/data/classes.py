"""Class sets: names, display colours and the ignore value of a labelling.

A :class:`ClassSet` is plain data so a checkpoint can store it (``to_dict``) and an
inference tool can rebuild the palette without the dataset (``from_dict``).

Classes file (``classes.json``) for :class:`segnet.data.folder.FolderDataset`, read by
:func:`load_classes_file`::

    {
      "name": "my-dataset",                      # optional, defaults to the file's folder name
      "names": ["background", "road", "car"],    # class i is names[i]; labels are 0..n-1
      "colors": [[0, 0, 0], [128, 64, 128], [64, 0, 128]],  # RGB, one per class, distinct
      "ignore_index": 255,                       # label value excluded from loss and metrics
      "void_colors": [[255, 255, 255]]           # optional: mask colours that mean "ignore"
    }

``ignore_index`` must lie outside ``0..n-1``. In colour-coded masks a colour that is neither a
class colour nor listed in ``void_colors`` is an error (never silently ignored), so a typo in
the palette cannot quietly drop a class from training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segnet.data.io import DataError

Color = tuple[int, int, int]


def _as_colors(values: Any, what: str) -> tuple[Color, ...]:
    colors = []
    for c in values:
        c = tuple(int(v) for v in c)
        if len(c) != 3 or not all(0 <= v <= 255 for v in c):
            raise ValueError(f"{what}: colour {list(c)} is not an RGB triple in 0..255")
        colors.append(c)
    return tuple(colors)


@dataclass(frozen=True)
class ClassSet:
    """Names, colours and ignore value of a dataset's label space (labels are ``0..n-1``)."""

    name: str
    names: tuple[str, ...]
    colors: tuple[Color, ...]
    ignore_index: int
    # Mask colours that decode to ``ignore_index`` (colour-coded masks only).
    void_colors: tuple[Color, ...] = field(default=())

    def __post_init__(self) -> None:
        # Normalise lists (e.g. from JSON) to tuples so the set stays hashable and frozen.
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        object.__setattr__(self, "colors", _as_colors(self.colors, self.name))
        object.__setattr__(self, "void_colors", _as_colors(self.void_colors, self.name))
        object.__setattr__(self, "ignore_index", int(self.ignore_index))
        n = len(self.names)
        if n == 0:
            raise ValueError(f"class set {self.name!r} has no classes")
        if len(self.colors) != n:
            raise ValueError(
                f"class set {self.name!r}: {n} names but {len(self.colors)} colours; give one colour per class"
            )
        if 0 <= self.ignore_index < n:
            raise ValueError(
                f"class set {self.name!r}: ignore_index {self.ignore_index} is a class label (0..{n - 1}); "
                "pick a value outside that range, e.g. 255"
            )
        if len(set(self.colors)) != n:
            raise ValueError(f"class set {self.name!r}: class colours must be distinct to decode colour masks")
        clash = set(self.colors) & set(self.void_colors)
        if clash:
            raise ValueError(f"class set {self.name!r}: void colour(s) {sorted(clash)} are also class colours")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def palette(self) -> np.ndarray:
        """Class colours as a ``(num_classes, 3)`` uint8 array (row i = colour of label i)."""
        return np.asarray(self.colors, dtype=np.uint8).reshape(self.num_classes, 3)

    def colorize(self, label: np.ndarray) -> np.ndarray:
        """Render an ``HxW`` label map as ``HxWx3`` uint8 RGB; ignore/out-of-range pixels are black."""
        label = np.asarray(label)
        out = np.zeros((*label.shape, 3), dtype=np.uint8)
        valid = (label >= 0) & (label < self.num_classes)
        out[valid] = self.palette()[label[valid]]
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (lists, ints, strings) for checkpoints and classes files."""
        d: dict[str, Any] = {
            "name": self.name,
            "names": list(self.names),
            "colors": [list(c) for c in self.colors],
            "ignore_index": self.ignore_index,
        }
        if self.void_colors:
            d["void_colors"] = [list(c) for c in self.void_colors]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassSet:
        return cls(
            name=str(d.get("name", "custom")),
            names=tuple(d["names"]),
            colors=tuple(tuple(c) for c in d["colors"]),
            ignore_index=int(d["ignore_index"]),
            void_colors=tuple(tuple(c) for c in d.get("void_colors", ())),
        )


def load_classes_file(path: str | Path) -> ClassSet:
    """Read a ``classes.json`` (format in the module docstring); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: classes file not found (expected JSON with names, colors, ignore_index)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read classes file as JSON ({e})") from e
    if not isinstance(raw, dict):
        raise DataError(f"{path}: classes file must hold a JSON object, got {type(raw).__name__}")
    missing = [k for k in ("names", "colors", "ignore_index") if k not in raw]
    if missing:
        raise DataError(f"{path}: classes file lacks {', '.join(missing)} (see segnet.data.classes for the format)")
    raw.setdefault("name", path.parent.name or "custom")
    try:
        return ClassSet.from_dict(raw)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: invalid classes file: {e}") from e


# CamVid as in the SegNet tutorial: 11 classes, value 11 = Unlabelled (void).
CAMVID = ClassSet(
    name="camvid",
    names=(
        "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
        "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
    ),
    colors=(
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
        (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
    ),
    ignore_index=11,
)


def _bit_palette(n: int) -> tuple[Color, ...]:
    """Distinct colours for labels 1..n by spreading the label's bits over R, G, B (PASCAL VOC style)."""
    colors = []
    for label in range(1, n + 1):
        r = g = b = 0
        c = label
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append((r, g, b))
    return tuple(colors)


# SUN RGB-D, 37 classes. The preprocessed release stores 0 = void and classes as 1..37; the
# SUNRGBD dataset shifts labels down by one so classes are 0..36 and void becomes 255.
SUNRGBD = ClassSet(
    name="sunrgbd",
    names=(
        "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
        "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
        "floor_mat", "clothes", "ceiling", "books", "fridge", "tv", "paper", "towel", "shower_curtain",
        "box", "whiteboard", "person", "night_stand", "toilet", "sink", "lamp", "bathtub", "bag",
    ),
    colors=_bit_palette(37),
    ignore_index=255,
)
