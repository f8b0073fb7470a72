"""Untrusted image bytes in, PNGs and class shares out: the checks a public upload needs.

Every failure is an :class:`ImageRejected` carrying the HTTP status to answer with, so the app
turns it into one JSON error and keeps serving.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..data.io import DataError, as_rgb8

# Raster formats a browser or camera produces. Restricting Image.open keeps PIL away from
# formats that shell out (EPS runs Ghostscript) or are rarely fuzzed.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF", "PPM")


class ImageRejected(ValueError):
    """An upload that is not a usable image; ``status`` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def format_bytes(n: int) -> str:
    """1536 -> '1.5 KiB': limits in error messages read better than raw byte counts."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def decode_image(data: bytes, max_bytes: int, max_pixels: int) -> Image.Image:
    """Bytes -> RGB image, upright per its EXIF orientation, within the byte and pixel limits.

    The pixel count is checked from the header (``Image.open`` reads no pixel data) so a small
    file that declares a huge canvas is refused before anything is allocated; PIL's own
    decompression-bomb guard is mapped to the same answer.
    """
    if not data:
        raise ImageRejected(400, "empty upload: send an image file (PNG, JPEG, ...) as form field 'file' "
                                 "or as the request body")
    if len(data) > max_bytes:
        raise ImageRejected(413, f"upload is {format_bytes(len(data))}, over the upload limit of "
                                 f"{format_bytes(max_bytes)}")
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageRejected(413, f"image refused as a decompression bomb: {error}") from None
    except UnidentifiedImageError:
        raise ImageRejected(415, "not a recognised image; send PNG, JPEG, WebP, BMP, GIF, TIFF or PPM") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(400, f"unreadable image header (truncated or corrupt file?): {error}") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected(400, f"image declares an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageRejected(413, f"image is {width}x{height} = {width * height} pixels, over the limit of "
                                 f"{max_pixels} pixels; downscale it first")
    try:
        image.load()  # the first frame only, for animated formats
        # The same conversion as predict and training: EXIF orientation, 16-bit grey scaled to 8 bits.
        return as_rgb8(image, "upload")
    except DataError as error:
        raise ImageRejected(415, str(error)) from None
    except Image.DecompressionBombError as error:
        raise ImageRejected(413, f"image refused as a decompression bomb: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # PIL says "image file is truncated" / "broken data stream" for cut-off files.
        raise ImageRejected(400, f"{image.format} image could not be decoded (truncated or corrupt?): "
                                 f"{error}") from None


def png_bytes(array: np.ndarray) -> bytes:
    """HxW uint8 (greyscale) or HxWx3 uint8 (RGB) -> PNG file bytes; fast zlib level, it is a demo."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def png_base64(array: np.ndarray) -> str:
    return base64.b64encode(png_bytes(array)).decode("ascii")


def class_shares(labels: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Percent of all pixels given each class (every class listed, zeros included)."""
    counts = np.bincount(labels.ravel(), minlength=len(names))[: len(names)]
    total = max(int(labels.size), 1)
    return {name: round(100.0 * int(count) / total, 4) for name, count in zip(names, counts)}
