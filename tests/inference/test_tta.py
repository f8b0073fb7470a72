"""Test-time augmentation: flip (the mean of the logits of an image and of its mirror) and multiscale
(the same at five scales of the working size, or at the scales a ``multiscale:...`` setting names)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import segnet
import torch.nn.functional as F

from segnet.checkpoint import LoadedModel
from segnet.cli.main import main
from segnet.inference import Segmenter, image_to_tensor, logits_at_size
from segnet.tta import parse_tta, resolve_tta, tta_cost, tta_sizes


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
    with pytest.raises(ValueError, match="'rotate' is not one of auto, none, flip, multiscale"):
        logits_at_size(nn.Identity(), torch.zeros(1, 3, 4, 4), tta="rotate")


def test_multiscale_with_listed_scales_runs_exactly_those_scales():
    assert parse_tta("multiscale:0.5,1,1.25") == ("multiscale", (0.5, 1.0, 1.25))
    assert tta_sizes((360, 480), "multiscale:0.5,1") == [(176, 240), (360, 480)]
    assert parse_tta("multiscale") == ("multiscale", (0.5, 0.75, 1.0, 1.25, 1.5))
    model = _Skewed()
    images = torch.randn(2, 3, 16, 24)
    assert torch.allclose(logits_at_size(model, images, tta="multiscale:1"), logits_at_size(model, images, tta="flip"))
    both = logits_at_size(model, images, size=(16, 24), tta="multiscale:1,2")
    at_twice = F.interpolate(logits_at_size(model, F.interpolate(images, size=(32, 48), mode="bilinear",
                                                                  align_corners=False, antialias=True), tta="flip"),
                             size=(16, 24), mode="bilinear", align_corners=False)
    assert torch.allclose(both, (logits_at_size(model, images, tta="flip") + at_twice) / 2, atol=1e-6)


@pytest.mark.parametrize("setting, message", [
    ("multiscale:", "the scales must be numbers"),
    ("multiscale:0.5,x", "the scales must be numbers"),
    ("multiscale:0,1", r"in \(0, 4\]"),
    ("multiscale:1,5", r"in \(0, 4\]"),
    ("flip:0.5", "'flip:0.5' is not one of auto, none, flip, multiscale or multiscale:S1,S2"),
])
def test_a_bad_tta_setting_is_refused_naming_it(setting, message):
    with pytest.raises(ValueError, match=message):
        parse_tta(setting)
    with pytest.raises(ValueError, match=message):
        resolve_tta(setting, fixed_size=False)


def test_the_cli_refuses_a_bad_tta_setting_before_loading_anything(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["predict", "no-such-image.png", "--tta", "multiscale:0.5,x"])
    assert stop.value.code == 2
    assert "argument --tta: test-time augmentation 'multiscale:0.5,x': the scales must be numbers" in capsys.readouterr().err


def test_segmenter_with_flip_tta_matches_the_mean_of_both_passes():
    segmenter = segnet.load(precision="fp32", tta="flip", refine="none")  # the TTA alone
    plain = segnet.load(precision="fp32", tta="none")
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    probs = segmenter.predict(image, return_probs=True).probs
    x = image_to_tensor(image, plain.mean, plain.std)[None]
    mean_logits = (plain.logits(x) + plain.logits(x.flip(-1)).flip(-1)) / 2
    assert np.allclose(probs, torch.softmax(mean_logits[0], 0).numpy(), atol=1e-4)


def test_amp_with_a_prepared_precision_is_refused_and_auto_becomes_bf16():
    with pytest.raises(ValueError, match="cannot combine with precision int8"):
        segnet.load(precision="int8", amp="bf16")
    # A small working size and one pass: the load's dry run is all this costs (bf16 is emulated on AVX2).
    loaded = segnet.load(precision="auto", amp="bf16", size=(96, 128), tta="none")
    assert loaded.precision in ("bf16", "fp32")  # fp32 where bf16 is not native


def test_multiscale_sizes_are_the_scaled_working_size_in_multiples_of_16():
    assert tta_sizes((360, 480), "multiscale") == [(176, 240), (272, 368), (360, 480), (448, 608), (544, 720)]
    assert tta_sizes((360, 480), "flip") == [(360, 480)]
    assert tta_sizes((20, 20), "multiscale") == [(16, 16), (16, 16), (20, 20), (32, 32), (32, 32)]


def test_tta_cost_counts_passes_and_their_pixels_against_one_pass():
    # 360x480 multiscale, from the sizes above: 2 x (176*240 + 272*368 + 360*480 + 448*608 + 544*720) pixels.
    passes, compute = tta_cost((360, 480), "multiscale")
    assert passes == 10 and compute == pytest.approx(2 * 979_200 / 172_800)
    assert tta_cost((64, 64), "multiscale:0.5,1") == (4, 2 * (32 * 32 + 64 * 64) / (64 * 64))
    assert tta_cost((360, 480), "flip") == (2, 2.0)
    assert tta_cost((360, 480), "none") == (1, 1.0)
    assert tta_cost(None, "multiscale") == (10, None)  # each image at its own size: no one figure


def test_multiscale_tta_averages_flip_passes_at_each_size_brought_back_to_the_image():
    model = _Skewed()
    images = torch.randn(2, 3, 30, 40)

    def flip_pass_at(size):  # an independent path: resize, run both ways, bring back, average
        x = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
        y = (model(x) + model(x.flip(-1)).flip(-1)) / 2
        return F.interpolate(y, size=(30, 40), mode="bilinear", align_corners=False)

    want = sum(flip_pass_at(size) for size in [(32, 32), (32, 48), (48, 64), (64, 80), (80, 96)]) / 5
    got = logits_at_size(model, images, size=(48, 64), tta="multiscale")
    assert torch.allclose(got, want, atol=1e-6)


def test_auto_tta_is_multiscale_unless_the_model_is_a_static_export():
    assert resolve_tta("auto", fixed_size=False) == "multiscale"
    assert resolve_tta("auto", fixed_size=True) == "flip"
    assert resolve_tta("none", fixed_size=True) == "none"
    with pytest.raises(ValueError, match=r"model\.onnx: a static export runs at its own size only.*--tta flip"):
        resolve_tta("multiscale", fixed_size=True, source="model.onnx")
    with pytest.raises(ValueError, match=r"model\.onnx: a static export"):
        resolve_tta("multiscale:0.5,1", fixed_size=True, source="model.onnx")
    assert resolve_tta("multiscale:0.5,1", fixed_size=False) == "multiscale:0.5,1"
    with pytest.raises(ValueError, match="'zoom' is not one of auto, none, flip, multiscale"):
        resolve_tta("zoom", fixed_size=False)


def test_segmenter_resolves_auto_tta_from_the_loaded_model():
    shipped = segnet.load(precision="fp32", size=(96, 128))  # small: the load's dry run at each scale
    assert shipped.tta == "multiscale"
    static = LoadedModel(_Skewed(), shipped.spec, shipped.classes, shipped.mean, shipped.std, (32, 48), "model.onnx",
                         backend="onnxruntime", exported_precision="fp32", fixed_size=True)
    assert Segmenter(static, optimize=False).tta == "flip"
    with pytest.raises(ValueError, match="model.onnx: a static export"):
        Segmenter(static, optimize=False, tta="multiscale")


def test_segmenter_with_multiscale_tta_matches_the_mean_of_its_passes():
    segmenter = segnet.load(precision="fp32", tta="multiscale", size=(96, 128), refine="none")
    plain = segnet.load(precision="fp32", tta="none", size=(96, 128))
    image = np.random.default_rng(1).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    probs = segmenter.predict(image, return_probs=True).probs
    x = image_to_tensor(image, plain.mean, plain.std)[None]
    passes = []
    for size in [(48, 64), (80, 96), (96, 128), (128, 160), (144, 192)]:  # 72 rounds up to 80, 120 to 128
        plain.size = size
        passes += [plain.logits(x), plain.logits(x.flip(-1)).flip(-1)]
    assert np.allclose(probs, torch.softmax(sum(passes)[0] / 10, 0).numpy(), atol=1e-4)


class _AtLeast32(_Skewed):
    """Refuses inputs under 32x32, as a deeper model's input check does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 32:
            raise ValueError(f"input {x.shape[-2]}x{x.shape[-1]} needs inputs of at least 32x32")
        return super().forward(x)


def test_a_multiscale_size_the_model_cannot_take_fails_at_load_naming_it():
    shipped = segnet.load(precision="fp32", tta="none")
    loaded = LoadedModel(_AtLeast32(), shipped.spec, shipped.classes, shipped.mean, shipped.std, (48, 64), "deep.pt")
    # multiscale also runs it at 0.5 x 48x64 = 24x32, rounded to 32x32, and 0.75 -> 32x48: both fine;
    # at 40x40 the 0.5 copy is 16x16.
    assert Segmenter(loaded, optimize=False, tta="multiscale").tta == "multiscale"
    small = LoadedModel(_AtLeast32(), shipped.spec, shipped.classes, shipped.mean, shipped.std, (40, 40), "deep.pt")
    with pytest.raises(ValueError, match=r"working size 40x40 \(multiscale .* at 16x16; use --tta flip\): .*at least 32x32"):
        Segmenter(small, optimize=False, tta="multiscale")
