"""benchmarks/shift_study.py: the shifted passes land back on the image's own pixels."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segnet.inference import _one_pass
from segnet.models import create_model


def test_parse_shifts(shift_study):
    assert shift_study.parse_shifts("8") == [(8, 8)]
    assert shift_study.parse_shifts("8,0;0,8") == [(8, 0), (0, 8)]
    for bad in ("16", "0", "-1,4"):
        with pytest.raises(SystemExit, match="--shifts"):
            shift_study.parse_shifts(bad)


@pytest.mark.parametrize("mirror", [False, True])
def test_a_pixelwise_model_gives_the_same_logits_shifted(shift_study, mirror):
    # A 1x1 convolution sees each pixel alone, so a shifted pass cropped back must equal the plain one:
    # any misalignment of the pad or the crop shows up as a difference.
    torch.manual_seed(0)
    model = nn.Conv2d(3, 5, 1).eval()
    images = torch.randn(2, 3, 32, 48)
    shifted = shift_study.with_shifts(_one_pass, [(8, 8), (4, 0), (0, 12)])
    with torch.no_grad():
        plain = _one_pass(model, images, (32, 48), None, False, mirror)
        torch.testing.assert_close(shifted(model, images, (32, 48), None, False, mirror), plain)


def test_segnet_basic_sees_a_shift_as_another_grid(shift_study):
    # Through four poolings a shift changes which pixels pool together: the average differs from
    # one pass, at the image's size.
    torch.manual_seed(0)
    model = create_model("segnet_basic", num_classes=4).eval()
    images = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        plain = _one_pass(model, images, (32, 48), None, False, False)
        shifted = shift_study.with_shifts(_one_pass, [(8, 8)])(model, images, (32, 48), None, False, False)
    assert shifted.shape == plain.shape
    assert (shifted - plain).abs().max() > 1e-3
