"""Weights shipped inside the package (a CamVid road-scene model)."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = "camvid_segnet_basic.pt"


def default_weights_path() -> Path:
    """The shipped CamVid model; a clear error if this install has none."""
    path = WEIGHTS_DIR / DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no shipped weights in this install; pass --weights PATH to a checkpoint from segnet train"
        )
    return path
