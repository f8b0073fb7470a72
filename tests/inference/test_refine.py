"""The dense CRF refinement (`segnet.refine`, `--refine crf`): hand-made cases with known answers,
and the same refinement whichever way it is reached (the function, a Segmenter, `segnet evaluate`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import segnet
from segnet.inference import Segmenter, image_to_tensor
from segnet.prior import prior_offsets
from segnet.refine import (CrfSetting, OccupiedGrid, crf_prior_adjustment, crf_prior_alpha, dense_crf, gaussian_blur,
                           refine_logits, resolve_refine, rgb_from_normalised)
from segnet.weights import resolve_weights


def shipped_prior_shift() -> dict:
    return torch.load(resolve_weights(None), map_location="cpu", weights_only=False)["prior_shift"]


def shipped_adjustment_to(alpha: float) -> torch.Tensor:
    """What moves the shipped model's logits from its recorded prior shift to ``alpha``'s, computed from
    the class weights it records (not from the offsets that crf_prior_adjustment scales)."""
    record = shipped_prior_shift()
    return prior_offsets(record["class_weights"], alpha) - torch.tensor(record["offsets"])


def _two_halves(height: int = 24, width: int = 40, edge: int = 20) -> torch.Tensor:
    """A dark left part (RGB 20) and a bright right part (RGB 230), split at column ``edge``."""
    rgb = torch.full((3, height, width), 20.0)
    rgb[:, :, edge:] = 230.0
    return rgb


def test_the_filter_keeps_a_constant_map_and_does_not_mix_distant_colours():
    rgb = _two_halves()
    grid = OccupiedGrid(rgb, spatial_sigma=8, colour_sigma=13)
    constant = torch.full((2, 24, 40), 0.3)
    assert torch.allclose(grid(constant), constant, atol=1e-6)  # normalised: a weighted mean of 0.3s
    left = torch.zeros(1, 24, 40)
    left[:, :, :20] = 1.0  # 1 on the dark part, 0 on the bright one: 16 colour cells apart
    torch.testing.assert_close(grid(left), left)


def test_the_filter_smooths_within_a_colour_region():
    rgb = torch.full((3, 24, 40), 100.0)  # one colour: a spatial blur of the map
    spike = torch.zeros(1, 24, 40)
    spike[0, 0, 0] = 1.0
    out = OccupiedGrid(rgb, spatial_sigma=8, colour_sigma=13)(spike)
    assert 0 < out[0, 0, 0] < 1 and out[0, 0, 1] == out[0, 0, 0]  # spread over its cell, nearest splat
    assert out[0, -1, -1] == 0  # three cells away: beyond the [1, 2, 1] blur's reach
    assert out.sum() > 0


def test_without_pairwise_weights_the_marginals_are_the_softmax():
    logits, rgb = torch.randn(4, 24, 40), torch.rand(3, 24, 40) * 255
    off = CrfSetting(appearance=0.0, smoothness=0.0)
    torch.testing.assert_close(dense_crf(logits, rgb, off), logits.softmax(0))


def test_labels_that_overrun_an_edge_are_pulled_back_to_it():
    rgb = _two_halves()
    logits = torch.zeros(2, 24, 40)
    logits[0, :, :24] = 0.4  # class 0 claims 4 columns of the bright part, weakly
    logits[1, :, 24:] = 0.4
    before = logits.argmax(0)
    assert (before[:, 20:24] == 0).all()  # wrong there, as set up
    after = dense_crf(logits, rgb, CrfSetting(spatial_sigma=10)).argmax(0)
    want = torch.zeros(24, 40, dtype=torch.long)
    want[:, 20:] = 1
    torch.testing.assert_close(after, want)


def test_refine_logits_returns_log_marginals_and_refuses_an_unknown_mode():
    logits, rgb = torch.randn(2, 3, 16, 24), torch.rand(2, 3, 16, 24) * 255
    refined = refine_logits(logits, rgb)
    assert refined.shape == logits.shape
    torch.testing.assert_close(refined.exp().sum(1), torch.ones(2, 16, 24))
    torch.testing.assert_close(refined[1].exp(), dense_crf(logits[1], rgb[1]))
    assert refine_logits(logits, rgb, "none") is logits
    with pytest.raises(ValueError, match="refinement 'bilateral' is not one of none, crf"):
        refine_logits(logits, rgb, "bilateral")
    with pytest.raises(ValueError, match=r"the image is \(16, 20\) but the logits are \(16, 24\)"):
        dense_crf(logits[0], rgb[0, :, :, :20])


def test_rgb_from_normalised_undoes_the_input_normalisation():
    array = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    rgb = rgb_from_normalised(image_to_tensor(array, mean, std)[None], mean, std)[0]
    torch.testing.assert_close(rgb, torch.from_numpy(array).permute(2, 0, 1).float(), atol=1e-3, rtol=0)


def test_a_segmenter_with_refine_crf_labels_as_the_crf_of_its_logits():
    plain = segnet.load(precision="fp32", tta="none", size=(48, 64))
    refined = segnet.load(precision="fp32", tta="none", size=(48, 64), refine="crf")
    assert "refine=crf" in repr(refined)
    image = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    batch = image_to_tensor(image, plain.mean, plain.std)[None]
    # the shipped model is shifted (v9: at 0.2): the CRF starts from its logits as trained (alpha 0)
    assert shipped_prior_shift()["alpha"] > 0
    unshifted = plain.logits(batch) + shipped_adjustment_to(0.0).view(1, -1, 1, 1)
    want = refine_logits(unshifted, rgb_from_normalised(batch, plain.mean, plain.std)).argmax(1)[0]
    np.testing.assert_array_equal(refined.label(image), want.numpy())
    with pytest.raises(ValueError, match="refinement 'blur' is not one of auto, none, crf"):
        Segmenter.load(precision="fp32", tta="none", size=(48, 64), refine="blur")


@pytest.mark.parametrize("tta, runs", [("multiscale", "crf"), ("multiscale:0.5,1", "crf"), ("flip", "crf"),
                                       ("none", "none")])
def test_auto_refines_with_test_time_augmentation_only(tta, runs):
    assert resolve_refine("auto", tta) == runs
    assert resolve_refine("none", tta) == "none" and resolve_refine("crf", tta) == "crf"


def test_the_default_segmenter_refines_unless_it_runs_one_pass():
    assert segnet.load(precision="fp32", size=(48, 64)).refine == "crf"  # tta auto: multiscale
    assert segnet.load(precision="fp32", size=(48, 64), tta="flip").refine == "crf"
    assert segnet.load(precision="fp32", size=(48, 64), tta="none").refine == "none"


def test_the_default_setting_is_the_one_chosen_on_the_held_out_drive():
    # docs/recipe_study.md: sessions 19 (weights, widths), 20 and 23 (prior share, colour width 8)
    setting = CrfSetting()
    assert (setting.appearance, setting.spatial_sigma, setting.colour_sigma, setting.smoothness,
            setting.smoothness_sigma, setting.iterations, setting.prior_share) == (3, 40, 8, 1, 3, 5, 0)


@pytest.mark.parametrize("alpha", [0.3, 0.2])
def test_the_crf_starts_from_a_shifted_models_logits_as_trained(alpha):
    weights = [0.3, 5.0, 1.0, 0.0, 2.5]
    model_offsets = prior_offsets(weights, alpha)
    assert CrfSetting().prior_share == 0  # session 23: none of the shift (it was half)
    undone = crf_prior_adjustment(model_offsets.tolist())
    torch.testing.assert_close(model_offsets + undone, torch.zeros(5))  # the weighting as trained
    assert crf_prior_alpha(alpha, model_offsets.tolist()) == 0  # what metrics.json reports
    half = crf_prior_adjustment(model_offsets.tolist(), CrfSetting(prior_share=0.5))
    torch.testing.assert_close(model_offsets + half, prior_offsets(weights, alpha / 2))
    assert crf_prior_alpha(alpha, model_offsets.tolist(), CrfSetting(prior_share=0.5)) == alpha / 2
    assert crf_prior_alpha(alpha, None) == alpha and crf_prior_alpha(None, None) is None
    assert crf_prior_adjustment(None) is None  # a model never shifted keeps its logits
    assert crf_prior_adjustment(model_offsets.tolist(), CrfSetting(prior_share=1)) is None  # all of the shift
    with pytest.raises(ValueError, match="CRF prior_share 1.5 is not from 0 to 1"):
        crf_prior_adjustment(model_offsets.tolist(), CrfSetting(prior_share=1.5))


def test_refine_logits_adds_the_prior_adjustment_before_the_crf():
    logits = torch.randn(2, 3, 12, 16, generator=torch.Generator().manual_seed(3))
    rgb = torch.rand(2, 3, 12, 16, generator=torch.Generator().manual_seed(4)) * 255
    adjustment = torch.tensor([2.0, -1.0, 0.5])
    want = refine_logits(logits + adjustment.view(1, 3, 1, 1), rgb)
    torch.testing.assert_close(refine_logits(logits, rgb, prior_adjustment=adjustment), want)
    assert refine_logits(logits, rgb, "none", prior_adjustment=adjustment) is logits  # no CRF, no change


@pytest.mark.parametrize("sigma", [2.0, 3.0])
def test_the_smoothness_blur_is_scipys_gaussian_with_nearest_borders(sigma):
    ndimage = pytest.importorskip("scipy.ndimage")
    maps = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(5))
    want = ndimage.gaussian_filter(maps.double().numpy(), sigma=(0, sigma, sigma), mode="nearest", truncate=2.0)
    np.testing.assert_allclose(gaussian_blur(maps, sigma).numpy(), want, atol=1e-6)
