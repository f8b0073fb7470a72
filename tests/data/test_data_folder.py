"""FolderDataset: index masks, colour masks through the palette, void colours, split folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segnet.data import DataError, FolderDataset

H, W = 12, 16
CLASSES = {
    "names": ["background", "road", "car"],
    "colors": [[0, 0, 0], [128, 64, 128], [64, 0, 128]],
    "ignore_index": 255,
    "void_colors": [[255, 255, 255]],
}


@pytest.fixture
def folder_root(tmp_path, write_image) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "mine"
    root.mkdir()
    (root / "classes.json").write_text(json.dumps(CLASSES))
    for i in range(2):
        write_image(root / "images" / f"f{i}.jpg", rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        write_image(root / "masks" / f"f{i}.png", rng.choice(np.array([0, 1, 2, 255], np.uint8), (H, W)))
    return root


def test_index_masks(folder_root) -> None:
    ds = FolderDataset(folder_root)
    assert len(ds) == 2 and ds.classes.names == ("background", "road", "car")
    image, label = ds[1]
    assert image.shape == (3, H, W) and label.shape == (H, W)
    assert set(label.unique().tolist()) <= {0, 1, 2, 255}


def test_colour_masks_are_decoded_and_void_colour_ignored(folder_root, write_image) -> None:
    idx = np.array([[0, 1, 2, 3]] * 3)  # 3 = void colour
    colours = np.array(CLASSES["colors"] + CLASSES["void_colors"], np.uint8)
    write_image(folder_root / "masks" / "f0.png", np.kron(colours[idx], np.ones((4, 4, 1), np.uint8)))
    _, label = FolderDataset(folder_root)[0]
    assert label.shape == (H, W)
    assert label[0, ::4].tolist() == [0, 1, 2, 255]


def test_unknown_colour_names_file_and_colour(folder_root, write_image) -> None:
    mask = np.zeros((H, W, 3), np.uint8)
    mask[3, 5] = (1, 2, 3)
    write_image(folder_root / "masks" / "f1.png", mask)
    with pytest.raises(DataError, match=r"\(1, 2, 3\)") as e:
        FolderDataset(folder_root)[1]
    assert "f1.png" in str(e.value)


def test_bad_index_values(folder_root, write_image) -> None:
    write_image(folder_root / "masks" / "f0.png", np.full((H, W), 3, np.uint8))
    with pytest.raises(DataError, match="f0.png"):
        FolderDataset(folder_root)[0]


def test_split_subfolder_and_explicit_classes_file(folder_root, tmp_path) -> None:
    (folder_root / "val").mkdir()
    (folder_root / "images").rename(folder_root / "val" / "images")
    (folder_root / "masks").rename(folder_root / "val" / "masks")
    assert len(FolderDataset(folder_root, split="val")) == 2
    other = tmp_path / "other.json"
    other.write_text(json.dumps(CLASSES | {"name": "renamed"}))
    assert FolderDataset(folder_root, classes_file=other, split="val").classes.name == "renamed"


def test_missing_pieces(folder_root, tmp_path) -> None:
    with pytest.raises(DataError, match="not found"):
        FolderDataset(tmp_path / "absent")
    (folder_root / "masks" / "f1.png").unlink()
    with pytest.raises(DataError, match="f1"):
        FolderDataset(folder_root)
    (folder_root / "classes.json").unlink()
    with pytest.raises(DataError, match="classes.json"):
        FolderDataset(folder_root)


def test_empty_images_folder(tmp_path) -> None:
    root = tmp_path / "empty"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.json").write_text(json.dumps(CLASSES))
    with pytest.raises(DataError, match="no images") as e:
        FolderDataset(root)
    assert str(root / "images") in str(e.value)
