"""The shipped CamVid model (calibrated in the package) in int8 scores like float32 on real frames.

Pinned on every 10th val frame at the checkpoint's size: int8 mIoU within 1.5 points of float32
and more than 95% of the pixels labelled the same.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segnet.checkpoint import load_model
from segnet.inference import Segmenter
from segnet.metrics import ConfusionMatrix
from segnet.optimize import int8_kernels_available
from segnet.weights import default_weights_path

CAMVID = Path(os.environ.get("SEGNET_CAMVID", Path(__file__).resolve().parents[2] / ".." / "shared" / "camvid"))

pytestmark = [
    pytest.mark.skipif(not int8_kernels_available(),
                       reason="this torch build has no oneDNN int8 conv (x86 CPU builds do)"),
    pytest.mark.skipif(not (CAMVID / "val").is_dir(), reason=f"CamVid not found at {CAMVID} (set SEGNET_CAMVID)"),
]


def test_shipped_checkpoint_is_calibrated():
    loaded = load_model(default_weights_path())
    assert loaded.int8_ranges is not None
    convs = {n for n, m in loaded.model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert set(loaded.int8_ranges) == convs | {"input"}


def test_shipped_model_int8_matches_float32_on_camvid_val():
    # One pass each (no test-time augmentation): the strictest comparison, and 11 times cheaper.
    fp32 = Segmenter.load(precision="fp32", tta="none")
    int8 = Segmenter.load(precision="int8", tta="none")
    assert int8.precision == "int8" and int8.size == fp32.size  # the checkpoint's size (360x480)
    scores = {"fp32": ConfusionMatrix(11, 11), "int8": ConfusionMatrix(11, 11)}
    same = total = 0
    frames = sorted((CAMVID / "val").glob("*.png"))[::20]  # 6 frames, a million labelled pixels
    assert len(frames) >= 5
    for frame in frames:
        image = Image.open(frame).convert("RGB")
        truth = torch.from_numpy(np.array(Image.open(CAMVID / "valannot" / frame.name))).long()
        labels = {}
        for precision, segmenter in (("fp32", fp32), ("int8", int8)):
            labels[precision] = segmenter.label(image)
            scores[precision].update(torch.from_numpy(labels[precision]).long(), truth)
        same += int((labels["fp32"] == labels["int8"]).sum())
        total += labels["fp32"].size
    miou = {precision: matrix.compute()["miou"] for precision, matrix in scores.items()}
    assert same / total > 0.95, same / total
    assert abs(miou["int8"] - miou["fp32"]) < 1.5, miou
    assert miou["fp32"] > 30, miou  # the float model itself is sane, so the comparison means something
