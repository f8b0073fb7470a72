"""CamVid in the SegNet tutorial layout (11 classes, label 11 = void, 480x360 frames).

Layout under ``root`` for a split ``s`` (``train``, ``val``, ``test``)::

    s/*.png          RGB frames
    sannot/*.png     single-channel label maps, values 0..10 and 11 (void, ignored)
    s.txt            optional: "<image> <label>" per line

The tutorial's ``.txt`` lists hold absolute paths from its author's machine
(``/SegNet/CamVid/train/x.png``); only the file NAME is used, resolved against ``s/`` and
``sannot/``. Without a ``.txt`` the frames in ``s/`` are paired with same-named labels.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from segnet.data.base import SegmentationDataset
from segnet.data.classes import CAMVID
from segnet.data.io import DataError, list_images, match_by_stem
from segnet.data.transforms import Transform

_LAYOUT = "expected <root>/{s}/*.png, <root>/{s}annot/*.png and optionally <root>/{s}.txt (SegNet tutorial layout)"


def _file_name(entry: str) -> str:
    """Last path component of a path written on any OS."""
    return PureWindowsPath(entry).name if "\\" in entry else PurePosixPath(entry).name


def _read_list(list_file: Path, image_dir: Path, label_dir: Path) -> list[tuple[Path, Path]]:
    files = []
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{list_file}: not a UTF-8 text list (byte {error.start}: {error.reason})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts or line.lstrip().startswith("#"):
            continue
        if len(parts) != 2:
            raise DataError(f"{list_file}:{lineno}: expected '<image> <label>', got {line.strip()!r}")
        pair = (image_dir / _file_name(parts[0]), label_dir / _file_name(parts[1]))
        for p, entry in zip(pair, parts, strict=True):
            if not p.is_file():
                raise DataError(f"{list_file}:{lineno}: {p} not found (listed as {entry}, resolved by file name)")
        files.append(pair)
    return files


def camvid_files(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """(image, label) pairs of a CamVid split: the ``.txt`` list if present, else the folders."""
    root = Path(root)
    layout = _LAYOUT.format(s=split)
    if not root.is_dir():
        raise DataError(f"{root}: CamVid root not found; {layout}; set SEGNET_CAMVID to point at it")
    image_dir, label_dir, list_file = root / split, root / f"{split}annot", root / f"{split}.txt"
    for d in (image_dir, label_dir):
        if not d.is_dir():
            raise DataError(f"{d}: CamVid split folder not found; {layout}")
    if list_file.is_file():
        files = _read_list(list_file, image_dir, label_dir)
    else:
        images = list_images(image_dir)
        files = list(zip(images, match_by_stem(images, label_dir, "label"), strict=True))
    if not files:
        source = list_file if list_file.is_file() else image_dir
        raise DataError(f"{source}: CamVid split {split!r} is empty; {layout}")
    return files


class CamVid(SegmentationDataset):
    """CamVid split as ``(image 3xHxW float32, label HxW int64)``; labels 0..10, 11 ignored."""

    def __init__(
        self, root: str | Path, split: str = "train", transform: Transform | None = None, seed: int = 0
    ) -> None:
        self.root = Path(root)
        self.split = split
        super().__init__(CAMVID, camvid_files(self.root, split), transform, seed)
