"""Two items of the real CamVid train and val splits (skipped when the data is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from segnet.data import CamVid, eval_transform

REPO_ROOT = Path(__file__).resolve().parents[2]


def _camvid_root() -> Path:
    env = os.environ.get("SEGNET_CAMVID")
    root = Path(env) if env else REPO_ROOT / ".." / "shared" / "camvid"
    if not (root / "train").is_dir():
        pytest.skip(f"real CamVid not found at {root} (set SEGNET_CAMVID)")
    return root


@pytest.mark.parametrize("split, count", [("train", 367), ("val", 101)])
def test_real_camvid_items(split: str, count: int) -> None:
    ds = CamVid(_camvid_root(), split, eval_transform(None))
    assert len(ds) == count
    for i in (0, len(ds) - 1):
        image, label = ds[i]
        assert image.shape == (3, 360, 480) and image.dtype == torch.float32
        assert label.shape == (360, 480) and label.dtype == torch.int64
        values = set(label.unique().tolist())
        assert values <= set(range(12)) and len(values) > 3
