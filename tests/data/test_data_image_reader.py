"""One reader for every input image: EXIF orientation and 16-bit images, the same in every path."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from segnet.data.io import DataError, as_rgb8, read_rgb


def _jpeg_with_orientation(array: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=100, exif=exif.tobytes())
    return buffer.getvalue()


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896], [65535, 1000, 51400]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    rgb = np.asarray(read_rgb(tmp_path / "g16.png"))
    want = np.round(values / 257.0).astype(np.uint8)
    assert rgb.shape == (2, 3, 3)
    for channel in range(3):
        assert np.array_equal(rgb[..., channel], want)


def test_eight_bit_inputs_are_unchanged(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "rgb.png")
    assert np.array_equal(np.asarray(read_rgb(tmp_path / "rgb.png")), array)
    grey = array[..., 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert np.array_equal(np.asarray(read_rgb(tmp_path / "grey.png"))[..., 1], grey)


@pytest.mark.parametrize("orientation, turn", [(6, "ROTATE_270"), (8, "ROTATE_90"), (3, "ROTATE_180")])
def test_exif_orientation_is_applied(tmp_path, orientation, turn):
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:5, :10] = 255  # a white block in the top-left corner
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg_with_orientation(array, orientation))
    upright = np.asarray(read_rgb(path))
    stored = Image.open(path)
    want = np.asarray(stored.convert("RGB").transpose(getattr(Image.Transpose, turn)))
    assert upright.shape == want.shape
    assert np.abs(upright.astype(int) - want.astype(int)).max() <= 2


def test_float_images_are_refused_by_name():
    with pytest.raises(DataError, match="float.png: floating-point image"):
        as_rgb8(Image.fromarray(np.zeros((3, 3), np.float32)), "float.png")


def test_segmenter_and_file_reader_see_the_same_pixels(tmp_path):
    import segnet

    array = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg_with_orientation(array, 6))
    model = segnet.load(precision="fp32", tta="none")  # one pass: the pixels read are the question
    from_file = model.label(np.asarray(read_rgb(path)))
    from_pil = model.label(Image.open(path))
    assert from_pil.shape == (32, 24)  # upright: the 24x32 photo turned a quarter
    assert np.array_equal(from_file, from_pil)
