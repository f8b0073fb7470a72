"""A tiny CamVid-layout dataset whose colours predict the classes, written per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Class index -> mean colour of its pixels (CamVid indices: Sky, Road, Car).
COLOURS = {0: (70, 130, 220), 3: (120, 120, 120), 8: (200, 40, 40)}


def make_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    label = np.full((height, width), 3, dtype=np.uint8)  # road
    label[: height // 3 + int(rng.integers(-3, 4))] = 0  # sky band
    top, left = int(rng.integers(height // 3, height - 12)), int(rng.integers(0, width - 16))
    label[top: top + 10, left: left + 14] = 8  # a car
    label[-2:, :5] = 11  # void
    image = np.zeros((height, width, 3), dtype=np.float64)
    for cls, colour in COLOURS.items():
        image[label == cls] = colour
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), label


def write_camvid(root: Path, splits: dict[str, int], height: int = 48, width: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, count in splits.items():
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir(parents=True)
        for i in range(count):
            image, label = make_scene(rng, height, width)
            Image.fromarray(image).save(root / split / f"seq_{i:03d}.png")
            Image.fromarray(label).save(root / f"{split}annot" / f"seq_{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_camvid(tmp_path_factory) -> Path:
    return write_camvid(tmp_path_factory.mktemp("camvid"), {"train": 8, "val": 4})


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGNET_CACHE", str(tmp_path / "cache"))
