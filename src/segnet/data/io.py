"""Reading images, label maps and depth, and the checks every dataset runs on them.

Every failure is a :class:`DataError` whose message is one line naming the file and the
problem, so a bad frame deep inside an epoch is found without a debugger.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_INDEX_MODES = ("1", "L", "P")  # 8-bit single-channel: pixel value (or palette index) = label
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # 16/32-bit single-channel


class DataError(ValueError):
    """A dataset file is missing, unreadable or inconsistent; the message names the file."""


def _open(path: str | Path, what: str) -> Image.Image:
    """Open and fully decode ``path`` (PIL is lazy: truncation only shows on ``load``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path}: cannot read {what} ({msg}); the file may be truncated or not an image") from e


def as_rgb8(im: Image.Image, source: str | Path = "image") -> Image.Image:
    """The one conversion every input image goes through (training, evaluate, predict, API, server).

    EXIF orientation is applied, so the labels line up with the photo as viewers show it; 16-bit
    and 32-bit grey are scaled to 8 bits (PIL's ``convert("RGB")`` would clip them to white);
    16-bit RGB PNGs already arrive as 8-bit RGB from PIL; palette, grey, alpha and CMYK images are
    converted. Floating-point images have no agreed range and are refused, naming ``source``.
    """
    im = ImageOps.exif_transpose(im) if im.getexif().get(0x0112, 1) != 1 else im
    if im.mode == "RGB":
        return im
    if im.mode in _WIDE_MODES:
        values = np.asarray(im, dtype=np.float64)
        grey = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)  # 0..65535 -> 0..255
        return Image.fromarray(grey).convert("RGB")
    if im.mode == "F":
        raise DataError(f"{source}: floating-point image (mode F) has no agreed value range; save it as 8- or "
                        "16-bit PNG/JPEG")
    return im.convert("RGB")


def read_rgb(path: str | Path) -> Image.Image:
    """Read an image as 8-bit RGB through :func:`as_rgb8` (EXIF orientation, 16-bit grey scaled)."""
    return as_rgb8(_open(path, "image"), path)


def read_label(path: str | Path, allow_color: bool = False) -> np.ndarray:
    """Read a label map as ``HxW`` integers (uint8 for 8-bit files, int32 for 16/32-bit).

    Palette (``P``) PNGs give their palette indices, which is how indexed masks store labels.
    With ``allow_color`` an RGB(A) mask is returned as ``HxWx3`` uint8 for palette decoding;
    otherwise it is an error, since an RGB file read as labels would be silently wrong.
    """
    im = _open(path, "label")
    if im.mode in _INDEX_MODES:
        return np.array(im.convert("L") if im.mode == "1" else im, dtype=np.uint8)
    if im.mode in _WIDE_MODES:
        return np.array(im).astype(np.int32)
    if allow_color and im.mode in ("RGB", "RGBA", "LA"):
        return np.array(im.convert("RGB"), dtype=np.uint8)
    raise DataError(
        f"{path}: label map has mode {im.mode}; expected a single-channel PNG of class indices"
        + ("" if allow_color else " (colour-coded masks are only read by FolderDataset)")
    )


def read_depth(path: str | Path) -> np.ndarray:
    """Read a single-channel depth map as ``HxW`` float32 in the file's units (e.g. millimetres)."""
    im = _open(path, "depth")
    if im.mode not in _INDEX_MODES + _WIDE_MODES + ("F",):
        raise DataError(f"{path}: depth map has mode {im.mode}; expected a single-channel (16-bit) PNG")
    return np.array(im).astype(np.float32)


def _wxh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def check_same_size(
    image_path: str | Path, image_size: tuple[int, int], other_path: str | Path, other_size: tuple[int, int]
) -> None:
    """Raise if two aligned files differ in size; sizes are PIL ``(width, height)``."""
    if tuple(image_size) != tuple(other_size):
        raise DataError(
            f"size mismatch: {image_path} is {_wxh(image_size)} but {other_path} is {_wxh(other_size)} "
            "(width x height); image and label must be pixel-aligned"
        )


def check_label_values(label: np.ndarray, num_classes: int, ignore_index: int, path: str | Path) -> None:
    """Raise if ``label`` holds values other than ``0..num_classes-1`` and ``ignore_index``."""
    bad = ((label < 0) | (label >= num_classes)) & (label != ignore_index)
    if bad.any():
        values = np.unique(label[bad])
        shown = ", ".join(str(int(v)) for v in values[:10]) + (", ..." if len(values) > 10 else "")
        raise DataError(
            f"{path}: label values {shown} outside 0..{num_classes - 1} (ignore value {ignore_index}); "
            "wrong dataset, class file or a colour mask read as indices?"
        )


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden files skipped)."""
    files = (p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS)


def match_by_stem(images: list[Path], folder: Path, what: str) -> list[Path]:
    """For each image, the file in ``folder`` with the same stem (any image extension)."""
    by_stem: dict[str, Path] = {}
    for p in list_images(folder) if folder.is_dir() else []:
        if p.stem in by_stem:
            raise DataError(f"{folder}: two {what} files share the stem {p.stem!r} ({by_stem[p.stem].name}, {p.name})")
        by_stem[p.stem] = p
    missing = [img for img in images if img.stem not in by_stem]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{missing[0]}: no {what} file with stem {missing[0].stem!r} in {folder}{more}")
    return [by_stem[img.stem] for img in images]
