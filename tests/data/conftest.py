"""Helpers for writing tiny image/label trees; every test builds its own data in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segnet.data.transforms import (ColorJitter, Compose, Normalize, RandomHorizontalFlip, RandomScaleCrop, Resize,
                                    ToTensor)

CAMVID_IGNORE = 11


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path)
    return path


@pytest.fixture
def write_image() -> Callable[[Path, np.ndarray], Path]:
    """``write_image(path, array)``: save a uint8 HxWx3 / HxW or uint16 HxW array, creating folders."""
    return _write


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _block_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of 8x8 pixels, each of one class and one colour: any shifted crop or missed flip shows."""
    blocks = rng.integers(0, 11, (height // 8 + 1, width // 8 + 1))
    label = np.kron(blocks, np.ones((8, 8), dtype=np.int64))[:height, :width].astype(np.uint8)
    palette = rng.integers(0, 256, (11, 3))
    image = palette[label] + rng.normal(0, 6, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), label


def _block_camvid(root: Path, sizes: list[tuple[int, int]]) -> Path:
    rng = np.random.default_rng(7)
    for i, (height, width) in enumerate(sizes):
        image, label = _block_scene(rng, height, width)
        _write(root / "train" / f"seq_{i:03d}.png", image)
        _write(root / "trainannot" / f"seq_{i:03d}.png", label)
    return root


@pytest.fixture
def block_camvid() -> Callable[[Path, list[tuple[int, int]]], Path]:
    """``block_camvid(root, sizes)``: a CamVid train split of block scenes, one frame per ``(height, width)``."""
    return _block_camvid


@pytest.fixture
def augment_pipeline() -> Callable[[], Compose]:
    """A fresh training pipeline with every step the device augmenter replays (48x64, crops 40x56)."""
    return lambda: Compose([Resize(48, 64), RandomScaleCrop((40, 56), scale=(0.6, 1.4), ignore_index=CAMVID_IGNORE),
                            ColorJitter(0.25, 0.25, 0.25, 0.04), RandomHorizontalFlip(0.5), ToTensor(), Normalize()])
