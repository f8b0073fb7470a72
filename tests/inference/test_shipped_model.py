"""The CamVid model shipped in the package loads alone and labels real road frames sensibly."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.metrics import ConfusionMatrix
from segnet.weights import default_weights_path

CAMVID = Path(os.environ.get("SEGNET_CAMVID", Path(__file__).resolve().parents[2] / ".." / "shared" / "camvid"))


def test_shipped_weights_are_small_and_complete():
    path = default_weights_path()
    assert path.stat().st_size <= 25 * 1024 * 1024
    model = segnet.load()
    assert model.classes.num_classes == 11 and model.classes.names[3] == "Road"
    assert model.size is not None


@pytest.mark.skipif(not (CAMVID / "val").is_dir(), reason=f"CamVid not found at {CAMVID} (set SEGNET_CAMVID)")
def test_shipped_model_segments_camvid_val_frames():
    model = segnet.load()
    confusion = ConfusionMatrix(11, 11)
    frames = sorted((CAMVID / "val").glob("*.png"))[::51]  # 2 frames, each 11 passes (multiscale)
    for frame in frames:
        labels = model.label(Image.open(frame))
        truth = np.array(Image.open(CAMVID / "valannot" / frame.name))
        assert labels.shape == truth.shape
        confusion.update(torch.from_numpy(labels).long(), torch.from_numpy(truth).long())
    scores = confusion.compute()
    # A floor far below the model card's figures: catches a broken model or pipeline, not noise.
    assert scores["global_accuracy"] > 70 and scores["miou"] > 30, scores
