"""CamVid on a tiny tree in the SegNet tutorial layout, including its foreign-path .txt lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from segnet.data import CAMVID, CamVid, DataError, train_transform

H, W = 12, 16
NAMES = ["0001TP_000010", "0006R0_000020", "Seq05VD_000030"]


@pytest.fixture
def camvid_root(tmp_path, write_image) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "camvid"
    lines = []
    for i, name in enumerate(NAMES):
        write_image(root / "train" / f"{name}.png", rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        label = rng.integers(0, 12, (H, W), dtype=np.uint8)  # 0..10 classes, 11 void
        label[0, 0] = i  # makes each label identifiable
        write_image(root / "trainannot" / f"{name}.png", label)
        lines.append(f"/SegNet/CamVid/train/{name}.png /SegNet/CamVid/trainannot/{name}.png")
    # The .txt order differs from the sorted folder order: the list wins.
    (root / "train.txt").write_text("\n".join(lines[::-1]) + "\n")
    return root


def test_items_shapes_dtypes_and_classes(camvid_root) -> None:
    ds = CamVid(camvid_root, "train")
    assert len(ds) == 3 and ds.classes is CAMVID
    image, label = ds[0]
    assert image.dtype == torch.float32 and image.shape == (3, H, W)
    assert label.dtype == torch.int64 and label.shape == (H, W)
    assert 0.0 <= image.min() and image.max() <= 1.0  # no transform: ToTensor only
    assert int(label.max()) <= 11


def test_txt_with_foreign_absolute_paths_is_resolved_by_name(camvid_root) -> None:
    ds = CamVid(camvid_root, "train")
    assert [p.name for p, _ in ds.files] == [f"{n}.png" for n in NAMES[::-1]]
    assert all(p.parent == camvid_root / "train" and q.parent == camvid_root / "trainannot" for p, q in ds.files)
    assert int(ds[0][1][0, 0]) == 2  # first listed = last name


def test_without_txt_folders_are_matched_by_name(camvid_root) -> None:
    (camvid_root / "train.txt").unlink()
    ds = CamVid(camvid_root, "train")
    assert [p.name for p, _ in ds.files] == sorted(f"{n}.png" for n in NAMES)
    assert [p.name for p, _ in ds.files] == [q.name for _, q in ds.files]


def test_txt_entry_with_missing_file(camvid_root) -> None:
    (camvid_root / "trainannot" / f"{NAMES[1]}.png").unlink()
    with pytest.raises(DataError) as e:
        CamVid(camvid_root, "train")
    assert "train.txt" in str(e.value) and f"{NAMES[1]}.png" in str(e.value)


def test_missing_label_without_txt(camvid_root) -> None:
    (camvid_root / "train.txt").unlink()
    (camvid_root / "trainannot" / f"{NAMES[0]}.png").unlink()
    with pytest.raises(DataError, match=NAMES[0]):
        CamVid(camvid_root, "train")


def test_missing_root_split_and_empty_split_explain_the_layout(tmp_path, camvid_root) -> None:
    with pytest.raises(DataError, match="SEGNET_CAMVID") as e:
        CamVid(tmp_path / "nowhere", "train")
    assert "nowhere" in str(e.value) and "trainannot" in str(e.value)
    with pytest.raises(DataError, match="valannot") as e:
        CamVid(camvid_root, "val")
    assert str(camvid_root / "val") in str(e.value)
    (camvid_root / "val").mkdir()
    (camvid_root / "valannot").mkdir()
    with pytest.raises(DataError, match="empty"):
        CamVid(camvid_root, "val")


def test_bad_label_values_and_size_mismatch(camvid_root, write_image) -> None:
    bad = camvid_root / "trainannot" / f"{NAMES[2]}.png"
    write_image(bad, np.full((H, W), 12, np.uint8))
    ds = CamVid(camvid_root, "train")
    with pytest.raises(DataError, match="12") as e:
        ds[0]
    assert bad.name in str(e.value)
    write_image(bad, np.zeros((H, W + 1), np.uint8))
    with pytest.raises(DataError, match="size mismatch") as e:
        ds[0]
    assert bad.name in str(e.value)


def test_seeded_augmentation_is_reproducible_per_seed_epoch_index(camvid_root) -> None:
    t = train_transform((8, 8), CAMVID.ignore_index)
    a, b = CamVid(camvid_root, "train", t, seed=3), CamVid(camvid_root, "train", t, seed=3)
    x1, y1 = a[1]
    x2, y2 = b[1]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    a.set_epoch(1)
    x3, _ = a[1]
    assert not torch.equal(x1, x3)
    b.set_epoch(1)
    assert torch.equal(b[1][0], x3) and torch.equal(b[-2][0], x3)
    c = CamVid(camvid_root, "train", t, seed=4)
    assert not torch.equal(c[1][0], x1)


def test_worker_count_does_not_change_samples(camvid_root) -> None:
    ds = CamVid(camvid_root, "train", train_transform((8, 8), CAMVID.ignore_index), seed=7)
    ds.set_epoch(2)
    serial = torch.cat([x for x, _ in DataLoader(ds, batch_size=1, num_workers=0)])
    parallel = torch.cat([x for x, _ in DataLoader(ds, batch_size=1, num_workers=2)])
    assert torch.equal(serial, parallel)
