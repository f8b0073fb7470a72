"""Flip test-time augmentation: the mean of the logits of an image and of its mirror."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import segnet
from segnet.inference import image_to_tensor, logits_at_size


class _Skewed(nn.Module):
    """Logits that depend on the column (so a mirror changes them), channel 0 = x, channel 1 = column ramp."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(0, 1, x.shape[-1]).expand(x.shape[0], 1, *x.shape[-2:])
        return torch.cat([x[:, :1] * self.scale, ramp], dim=1)


def test_flip_tta_averages_the_logits_of_the_image_and_its_mirror():
    model = _Skewed()
    images = torch.randn(2, 3, 8, 12)
    got = logits_at_size(model, images, tta="flip")
    want = (model(images) + model(images.flip(-1)).flip(-1)) / 2
    assert torch.allclose(got, want)
    assert torch.allclose(got[:, 1], torch.full_like(got[:, 1], 0.5))  # the ramp cancels against its mirror


def test_flip_tta_of_a_mirror_symmetric_model_changes_nothing():
    model = nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        model.weight.copy_(model.weight + model.weight.flip(-1))  # mirror-symmetric kernels
    images = torch.randn(1, 3, 10, 14)
    assert torch.allclose(logits_at_size(model, images, tta="flip"), logits_at_size(model, images), atol=1e-5)


def test_unknown_tta_mode_is_refused():
    with pytest.raises(ValueError, match="'rotate' is not one of none, flip"):
        logits_at_size(nn.Identity(), torch.zeros(1, 3, 4, 4), tta="rotate")


def test_segmenter_with_flip_tta_matches_the_mean_of_both_passes():
    segmenter = segnet.load(precision="fp32", tta="flip")
    plain = segnet.load(precision="fp32", tta="none")
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    probs = segmenter.predict(image, return_probs=True).probs
    x = image_to_tensor(image, plain.mean, plain.std)[None]
    mean_logits = (plain.logits(x) + plain.logits(x.flip(-1)).flip(-1)) / 2
    assert np.allclose(probs, torch.softmax(mean_logits[0], 0).numpy(), atol=1e-4)


def test_amp_with_a_prepared_precision_is_refused_and_auto_becomes_bf16():
    with pytest.raises(ValueError, match="cannot combine with precision int8"):
        segnet.load(precision="int8", amp="bf16")
    assert segnet.load(precision="auto", amp="bf16").precision in ("bf16", "fp32")  # fp32 where bf16 is not native
