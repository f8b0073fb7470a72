"""File reading and validation: every failure is a one-line DataError naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from segnet.data.io import DataError, check_label_values, check_same_size, read_depth, read_label, read_rgb


def test_read_rgb_and_label(tmp_path, write_image, rng) -> None:
    img = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    lab = rng.integers(0, 5, (12, 16), dtype=np.uint8)
    im = read_rgb(write_image(tmp_path / "a.png", img))
    assert im.mode == "RGB" and im.size == (16, 12)
    np.testing.assert_array_equal(np.asarray(im), img)
    out = read_label(write_image(tmp_path / "a_l.png", lab))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, lab)


def test_grey_image_is_converted_to_rgb(tmp_path, write_image) -> None:
    im = read_rgb(write_image(tmp_path / "g.png", np.full((4, 5), 7, np.uint8)))
    assert im.mode == "RGB" and np.asarray(im)[0, 0].tolist() == [7, 7, 7]


def test_16bit_label_and_depth(tmp_path, write_image) -> None:
    arr = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    path = write_image(tmp_path / "d.png", arr)
    np.testing.assert_array_equal(read_label(path), arr.astype(np.int32))
    depth = read_depth(path)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, arr.astype(np.float32))


def test_truncated_png_raises_data_error(tmp_path, write_image, rng) -> None:
    path = write_image(tmp_path / "frame.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for reader in (read_rgb, read_label):
        with pytest.raises(DataError) as e:
            reader(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_missing_and_non_image_files(tmp_path) -> None:
    with pytest.raises(DataError, match="not found") as e:
        read_rgb(tmp_path / "missing.png")
    assert "missing.png" in str(e.value)
    junk = tmp_path / "junk.png"
    junk.write_text("hello")
    with pytest.raises(DataError, match="junk.png"):
        read_label(junk)


def test_rgb_label_needs_allow_color(tmp_path, write_image) -> None:
    path = write_image(tmp_path / "mask.png", np.zeros((3, 4, 3), np.uint8))
    with pytest.raises(DataError, match="mode RGB"):
        read_label(path)
    assert read_label(path, allow_color=True).shape == (3, 4, 3)


def test_size_mismatch_names_both_files_and_sizes() -> None:
    with pytest.raises(DataError) as e:
        check_same_size("img/a.png", (480, 360), "lab/a.png", (240, 180))
    msg = str(e.value)
    assert "img/a.png" in msg and "lab/a.png" in msg and "480x360" in msg and "240x180" in msg
    check_same_size("a", (4, 3), "b", (4, 3))


def test_bad_label_values_are_listed() -> None:
    label = np.array([[0, 11, 12], [200, 3, 10]], dtype=np.uint8)
    with pytest.raises(DataError) as e:
        check_label_values(label, 11, 11, "lab/x.png")
    msg = str(e.value)
    assert "lab/x.png" in msg and "12, 200" in msg and " 11," not in msg
    check_label_values(np.array([[0, 10, 11]]), 11, 11, "ok.png")
