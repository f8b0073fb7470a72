"""Median frequency balancing against hand-computed weights, and its cache."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from segnet.data import (
    CamVid,
    balancing,
    cached_median_frequency_weights,
    class_pixel_stats,
    median_frequency_weights,
)

IGNORE = 255
# Three 2x3 label maps, 4 classes (class 3 never occurs):
#   A: class 0 x2, class 1 x3, 1 ignore  -> 5 counted pixels
#   B: class 0 x1, class 2 x5             -> 6 counted pixels
#   C: class 1 x1, 5 ignore               -> 1 counted pixel
LABELS = [
    np.array([[0, 0, 1], [1, 1, IGNORE]], np.uint8),
    np.array([[0, 2, 2], [2, 2, 2]], np.uint8),
    np.array([[IGNORE] * 3, [IGNORE, IGNORE, 1]], np.uint8),
]
# pixels:   c0 = 3, c1 = 4, c2 = 5, c3 = 0
# totals:   c0 in A,B: 5+6 = 11; c1 in A,C: 5+1 = 6; c2 in B: 6
# freq:     3/11, 4/6, 5/6 -> median 2/3
# weights:  (2/3)/(3/11) = 22/9, 1, (2/3)/(5/6) = 4/5, 0 (absent)
EXPECTED = [22 / 9, 1.0, 0.8, 0.0]


@pytest.fixture
def label_paths(tmp_path, write_image):
    return [write_image(tmp_path / f"l{i}.png", lab) for i, lab in enumerate(LABELS)]


def test_pixel_stats_by_hand(label_paths) -> None:
    class_pixels, image_pixels = class_pixel_stats(label_paths, 4, IGNORE)
    assert class_pixels.tolist() == [3, 4, 5, 0]
    assert image_pixels.tolist() == [11, 6, 6, 0]


def test_weights_by_hand(label_paths) -> None:
    w = median_frequency_weights(label_paths, num_classes=4, ignore_index=IGNORE)
    assert w.dtype == torch.float32 and w.shape == (4,)
    np.testing.assert_allclose(w.numpy(), EXPECTED, rtol=1e-6)


def test_paths_need_class_count(label_paths) -> None:
    with pytest.raises(ValueError, match="num_classes"):
        median_frequency_weights(label_paths)


def _camvid_tree(root, write_image) -> None:
    for i, lab in enumerate(LABELS):
        lab = np.where(lab == IGNORE, 11, lab).astype(np.uint8)  # CamVid's void is 11
        write_image(root / "train" / f"{i}.png", np.zeros((2, 3, 3), np.uint8))
        write_image(root / "trainannot" / f"{i}.png", lab)


def test_dataset_source_uses_its_classes(tmp_path, write_image) -> None:
    _camvid_tree(tmp_path, write_image)
    w = median_frequency_weights(CamVid(tmp_path, "train"))
    assert w.shape == (11,)
    np.testing.assert_allclose(w.numpy()[:4], EXPECTED, rtol=1e-6)
    assert not w[3:].any()


def test_cache_is_reused_and_invalidated_by_label_changes(tmp_path, write_image, monkeypatch) -> None:
    root, cache = tmp_path / "cv", tmp_path / "cache"
    _camvid_tree(root, write_image)
    ds = CamVid(root, "train")
    first = cached_median_frequency_weights(ds, cache)
    files = list(cache.glob("mfb_*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["class_pixels"][:3] == [3, 4, 5]

    def boom(*a, **k):
        raise AssertionError("recomputed despite a valid cache")

    monkeypatch.setattr(balancing, "class_pixel_stats", boom)
    assert torch.equal(cached_median_frequency_weights(ds, cache), first)
    monkeypatch.undo()

    label = root / "trainannot" / "1.png"
    write_image(label, np.zeros((2, 3), np.uint8))
    st = label.stat()
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = cached_median_frequency_weights(CamVid(root, "train"), cache)
    assert len(list(cache.glob("mfb_*.json"))) == 2 and not torch.equal(first, second)


def test_an_unwritable_cache_warns_and_still_gives_the_weights(tmp_path, write_image) -> None:
    root = tmp_path / "cv"
    _camvid_tree(root, write_image)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    with pytest.warns(UserWarning, match="cannot write the class-weight cache"):
        weights = cached_median_frequency_weights(CamVid(root, "train"), blocker / "cache")
    np.testing.assert_allclose(weights.numpy()[:4], EXPECTED, rtol=1e-6)


def test_even_number_of_classes_takes_the_mean_of_the_two_middle_frequencies() -> None:
    # freq 0.1, 0.2, 0.3, 0.4: the median is 0.25 (not the upper middle 0.3, nor the lower 0.2)
    weights = balancing.weights_from_stats(np.array([1, 2, 3, 4]), np.array([10, 10, 10, 10]))
    np.testing.assert_allclose(weights.numpy(), [2.5, 1.25, 0.25 / 0.3, 0.625], rtol=1e-6)


def _save_uncompressed(path, label) -> None:
    from PIL import Image

    Image.fromarray(label).save(path, compress_level=0)  # stored deflate: byte size fixed by the shape


def test_cache_sees_a_relabelled_file_of_the_same_byte_size(tmp_path, write_image) -> None:
    root, cache = tmp_path / "cv", tmp_path / "cache"
    _camvid_tree(root, write_image)
    label = root / "trainannot" / "0.png"
    _save_uncompressed(label, np.array([[0, 0, 1], [1, 1, 11]], np.uint8))
    first = cached_median_frequency_weights(CamVid(root, "train"), cache)
    size = label.stat().st_size
    _save_uncompressed(label, np.array([[2, 2, 2], [2, 2, 11]], np.uint8))  # other classes, same bytes
    assert label.stat().st_size == size
    st = label.stat()
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = cached_median_frequency_weights(CamVid(root, "train"), cache)
    assert not torch.equal(first, second)
    np.testing.assert_allclose(second.numpy(), median_frequency_weights(CamVid(root, "train")).numpy())


def test_cache_sees_a_changed_size_even_with_the_old_mtime(tmp_path, write_image) -> None:
    root, cache = tmp_path / "cv", tmp_path / "cache"
    _camvid_tree(root, write_image)
    label = root / "trainannot" / "2.png"
    first = cached_median_frequency_weights(CamVid(root, "train"), cache)
    before = label.stat()
    _save_uncompressed(label, np.array([[0, 0, 0], [0, 0, 0]], np.uint8))
    assert label.stat().st_size != before.st_size
    os.utime(label, ns=(before.st_atime_ns, before.st_mtime_ns))  # a copy tool that keeps mtimes
    second = cached_median_frequency_weights(CamVid(root, "train"), cache)
    assert not torch.equal(first, second)
    np.testing.assert_allclose(second.numpy(), median_frequency_weights(CamVid(root, "train")).numpy())
