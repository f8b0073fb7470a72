"""benchmarks/scale_study.py: its equal-weight row is the multiscale TTA, and its weights are what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segnet.inference import logits_at_size
from segnet.models import create_model
from segnet.tta import TTA_SCALES


def test_equal_weights_over_the_scales_are_the_multiscale_tta(scale_study):
    # The study's baseline row must be what predict runs, or every difference it reports is off.
    torch.manual_seed(0)
    model = create_model("segnet_basic", num_classes=4).eval()
    images = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        per_scale = scale_study.scale_logits(model, images, (48, 64), TTA_SCALES)
        multiscale = logits_at_size(model, images, (48, 64), channels_last=True, tta="multiscale")
    assert per_scale.shape == (len(TTA_SCALES), 1, 4, 48, 64)
    equal = torch.full((len(TTA_SCALES),), 1 / len(TTA_SCALES))
    torch.testing.assert_close(scale_study.combine(per_scale[:, 0], "logits", equal), multiscale[0])
    assert (per_scale[0] - per_scale[-1]).abs().max() > 1e-3  # the scales do differ


def test_combine_by_hand(scale_study):
    logits = torch.tensor([[0.0, 2.0], [4.0, 0.0]]).view(2, 2, 1, 1)  # 2 scales x 2 classes x 1 x 1
    weights = torch.tensor([0.25, 0.75])
    torch.testing.assert_close(scale_study.combine(logits, "logits", weights).flatten(), torch.tensor([3.0, 0.5]))
    e2, e4 = np.exp(2.0), np.exp(4.0)
    probs = 0.25 * np.array([1, e2]) / (1 + e2) + 0.75 * np.array([e4, 1]) / (1 + e4)
    torch.testing.assert_close(scale_study.combine(logits, "probs", weights).flatten(),
                               torch.tensor(np.log(probs), dtype=torch.float32))
    # per class: class 0 from the first scale only, class 1 from the second only
    per_class = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    torch.testing.assert_close(scale_study.combine(logits, "logits", per_class).flatten(), torch.tensor([0.0, 0.0]))


def test_combinations_weights(scale_study):
    classes = ["Sky", "Pole", "Road"]
    rows = {name: (how, weights) for name, how, weights in
            scale_study.combinations((0.5, 1.0, 2.0), [0, -1], classes, ["Pole"])}
    np.testing.assert_allclose(rows["equal"][1], [1 / 3] * 3)
    np.testing.assert_allclose(rows["scale^-1"][1], np.array([2, 1, 0.5]) / 3.5)
    per_class = rows["scale^-1, thin equal"][1]
    assert per_class.shape == (3, 3)
    np.testing.assert_allclose(per_class[:, 1], [1 / 3] * 3)  # Pole keeps equal weights
    np.testing.assert_allclose(per_class[:, 0], np.array([2, 1, 0.5]) / 3.5)
    np.testing.assert_allclose(rows["without 1"][1], [0.5, 0, 0.5])
    assert rows["equal, probabilities"][0] == "probs"
    assert "scale^0, thin equal" not in rows
