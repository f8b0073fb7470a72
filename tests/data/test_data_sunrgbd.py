"""SUN RGB-D on a tiny preprocessed-layout tree: label shift, void -> 255, depth as channel 4."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from segnet.data import SUNRGBD, SUNRGBD_CLASSES, Compose, DataError, Normalize, RandomHorizontalFlip, ToTensor

H, W = 12, 16


@pytest.fixture
def sun_root(tmp_path, write_image) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "sunrgbd"
    for i in range(3):
        ext = "jpg" if i == 0 else "png"
        write_image(root / "train" / "rgb" / f"img_{i:04d}.{ext}", rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        label = rng.integers(0, 38, (H, W), dtype=np.uint8)
        label[0, :4] = [0, 1, 37, 5]
        write_image(root / "train" / "label" / f"img_{i:04d}.png", label)
        depth = rng.integers(0, 12000, (H, W)).astype(np.uint16)
        depth[0, :3] = [0, 5000, 15000]
        write_image(root / "train" / "depth" / f"img_{i:04d}.png", depth)
    return root


def test_labels_are_shifted_and_void_is_ignored(sun_root) -> None:
    ds = SUNRGBD(sun_root, "train")
    assert len(ds) == 3 and ds.classes is SUNRGBD_CLASSES
    image, label = ds[0]
    assert image.shape == (3, H, W) and label.dtype == torch.int64
    assert label[0, :4].tolist() == [255, 0, 36, 4]
    valid = label[label != 255]
    assert int(valid.min()) >= 0 and int(valid.max()) <= 36


def test_depth_is_scaled_and_appended_as_fourth_channel(sun_root) -> None:
    image, _ = SUNRGBD(sun_root, "train", use_depth=True)[0]
    assert image.shape == (4, H, W)
    assert image[3, 0, :3].tolist() == pytest.approx([0.0, 0.5, 1.0])  # mm / 10 m, clipped
    normed, _ = SUNRGBD(sun_root, "train", Compose([ToTensor(), Normalize()]), use_depth=True)[0]
    assert normed[3, 0, :3].tolist() == pytest.approx([-1.0, 0.0, 1.0])


def test_depth_follows_geometric_transforms(sun_root) -> None:
    flip = Compose([RandomHorizontalFlip(p=1.0), ToTensor()])
    plain, plain_label = SUNRGBD(sun_root, "train", use_depth=True)[1]
    flipped, flipped_label = SUNRGBD(sun_root, "train", flip, use_depth=True)[1]
    assert torch.equal(flipped, plain.flip(-1)) and torch.equal(flipped_label, plain_label.flip(-1))


def test_missing_depth_folder_only_matters_with_depth(sun_root) -> None:
    for p in (sun_root / "train" / "depth").iterdir():
        p.unlink()
    (sun_root / "train" / "depth").rmdir()
    assert len(SUNRGBD(sun_root, "train")) == 3
    with pytest.raises(DataError, match="depth"):
        SUNRGBD(sun_root, "train", use_depth=True)


def test_missing_label_and_bad_values(sun_root, write_image) -> None:
    write_image(sun_root / "train" / "label" / "img_0001.png", np.full((H, W), 38, np.uint8))
    with pytest.raises(DataError, match="38") as e:
        SUNRGBD(sun_root, "train")[1]
    assert "img_0001.png" in str(e.value)
    (sun_root / "train" / "label" / "img_0002.png").unlink()
    with pytest.raises(DataError, match="img_0002"):
        SUNRGBD(sun_root, "train")


def test_depth_size_mismatch(sun_root, write_image) -> None:
    write_image(sun_root / "train" / "depth" / "img_0000.png", np.zeros((H + 1, W), np.uint16))
    with pytest.raises(DataError, match="size mismatch"):
        SUNRGBD(sun_root, "train", use_depth=True)[0]


def test_missing_split(sun_root) -> None:
    with pytest.raises(DataError, match="rgb"):
        SUNRGBD(sun_root, "test")
