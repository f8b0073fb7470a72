"""Helpers for writing tiny image/label trees; every test builds its own data in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


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
