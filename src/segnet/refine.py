"""Edge-aware refinement of a model's logits: a fully connected CRF, solved by mean field.

Why: SegNet's decoder draws boundaries from upsampled coarse features, so a label often bleeds a
few pixels across an edge of the image. A dense CRF (Kraehenbuehl and Koltun, 2011) with the
logits as unary term and Potts pairwise terms, one over position and colour (appearance) and one
over position alone (smoothness), moves labels back to the edges. On the held-out drive 0006R0,
over v8's twin in float32 + multiscale TTA, the default setting bought +0.7 mIoU and +4.7 BF for
0.2 s per 360x480 frame on 2 CPU cores (docs/recipe_study.md, ``benchmarks/crf_study.py``,
``benchmarks/crf_cost.py``).

The CRF's Potts terms lean towards large, frequent regions, which is what `segnet shift-prior`
does too, so on a shifted model the CRF starts from logits that keep only ``CrfSetting.prior_share``
of the shift: none since session 23 (v9: 0.2 -> 0, the logits as trained), half before. Over
half, on v9's twin with the multiscale TTA (what `predict` runs): +0.08 mIoU, +0.8 C and +1.4
SignSymbol IoU for -0.4 BF, the same signs on three earlier models (mIoU within 0.1); with flip it
costs 0.12 mIoU in float32, 0.14 in int8 (SignSymbol +0.9). Paths without the CRF keep the model's shift.

The appearance kernel is a normalised bilateral filter on a grid over (y, x, r, g, b) that keeps
only the cells pixels fall in: nearest-cell splat, a [1, 2, 1] blur along each axis between
occupied neighbours, then slice. An approximation of the Gaussian, linear in the pixel count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

REFINE_MODES = ("none", "crf")


def resolve_refine(refine: str, tta: str) -> str:
    """The refinement that runs: ``auto`` is crf with test-time augmentation (multiscale: the CRF adds
    about 4% to its ten passes on 2 AVX2 cores; flip, a static export's: about 25% to its two, for
    +1.6 mIoU held out) and none without (one pass: speed first, as `segnet serve` runs)."""
    if refine == "auto":
        return "none" if tta.partition(":")[0] == "none" else "crf"
    if refine not in REFINE_MODES:
        raise ValueError(f"refinement '{refine}' is not one of auto, {', '.join(REFINE_MODES)}")
    return refine


@dataclass(frozen=True)
class CrfSetting:
    """Weights (in logit units) and kernel widths; the defaults are the setting chosen on 0006R0."""

    appearance: float = 3.0
    spatial_sigma: float = 40.0  # pixels, at the image's size
    colour_sigma: float = 8.0  # of 0-255 RGB (13 until session 23: 8 gave +0.1-0.2 mIoU on two twins)
    smoothness: float = 1.0
    smoothness_sigma: float = 3.0
    iterations: int = 5
    prior_share: float = 0.0  # of a shifted model's class prior shift, kept in the unary term (1: all of it)


def crf_prior_adjustment(model_offsets: Sequence[float] | None, setting: CrfSetting = CrfSetting()) -> Tensor | None:
    """Per-class offsets to add to a shifted model's logits so that the CRF sees ``setting.prior_share``
    of its shift: the shift is linear in alpha (``-alpha * log w_c``), so the model's own offsets,
    scaled by ``prior_share - 1``. None when there is nothing to change (no shift recorded, share 1)."""
    if not 0 <= setting.prior_share <= 1:
        raise ValueError(f"CRF prior_share {setting.prior_share} is not from 0 to 1")
    if model_offsets is None or setting.prior_share == 1:
        return None
    return torch.tensor(model_offsets, dtype=torch.float32) * (setting.prior_share - 1)


def crf_prior_alpha(model_alpha: float | None, model_offsets: Sequence[float] | None,
                    setting: CrfSetting = CrfSetting()) -> float | None:
    """The class prior shift the CRF's unary term carries (for reports): the model's alpha times the
    share, when :func:`crf_prior_adjustment` has offsets to scale; the model's own alpha otherwise."""
    if model_alpha is None:
        return None
    return model_alpha * setting.prior_share if crf_prior_adjustment(model_offsets, setting) is not None else model_alpha


class OccupiedGrid:
    """The normalised bilateral filter of one image, built once and applied to any C x H x W maps."""

    def __init__(self, rgb: Tensor, spatial_sigma: float, colour_sigma: float) -> None:
        if spatial_sigma < 2 or colour_sigma < 2:
            raise ValueError(f"CRF kernel widths must be at least 2, got {spatial_sigma} px and {colour_sigma}")
        height, width = rgb.shape[1:]
        ys, xs = torch.meshgrid(torch.arange(height, device=rgb.device), torch.arange(width, device=rgb.device),
                                indexing="ij")
        axes = [torch.round(ys / spatial_sigma), torch.round(xs / spatial_sigma)]
        axes += [torch.round(rgb[k].float().clamp(0, 255) / colour_sigma) for k in range(3)]
        span = max(int(max(height, width) / spatial_sigma), int(255 / colour_sigma)) + 3
        key = torch.zeros(height * width, dtype=torch.long, device=rgb.device)
        strides, stride = [], 1
        for axis in reversed(axes):  # one integer key per cell, with room for a neighbour on each side
            key += (axis.long().reshape(-1) + 1) * stride
            strides.append(stride)
            stride *= span
        self.keys, self.cell_of_pixel = torch.unique(key, return_inverse=True)
        self.cells = len(self.keys)
        self.neighbours = []
        for stride in strides:
            pair = []
            for sign in (1, -1):
                target = self.keys + sign * stride
                found = torch.searchsorted(self.keys, target).clamp_max(self.cells - 1)
                missing = torch.full_like(found, self.cells)  # the all-zero row appended below
                pair.append(torch.where(self.keys[found] == target, found, missing))
            self.neighbours.append(pair)

    def __call__(self, maps: Tensor) -> Tensor:
        channels = maps.shape[0]
        values = torch.cat([maps.reshape(channels, -1), maps.new_ones(1, maps[0].numel())]).t()
        grid = maps.new_zeros(self.cells + 1, channels + 1).index_add_(0, self.cell_of_pixel, values)
        for plus, minus in self.neighbours:
            grid = torch.cat([0.5 * grid[:-1] + 0.25 * (grid[plus] + grid[minus]), grid[-1:]])
        sliced = grid[self.cell_of_pixel]
        return (sliced[:, :channels] / sliced[:, channels:].clamp_min(1e-6)).t().reshape(maps.shape)


def gaussian_blur(maps: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of C x H x W maps, borders replicated. One grouped (depthwise) conv per
    axis: 3.5 times faster on the CPU than the same kernel over C single-channel images."""
    size = int(2 * round(2 * sigma) + 1)
    channels = maps.shape[0]
    offsets = torch.arange(size, dtype=maps.dtype, device=maps.device) - size // 2
    kernel = torch.exp(-offsets**2 / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    x = maps.unsqueeze(0)
    x = F.conv2d(F.pad(x, (size // 2, size // 2, 0, 0), mode="replicate"),
                 kernel.view(1, 1, 1, size).expand(channels, 1, 1, size), groups=channels)
    x = F.conv2d(F.pad(x, (0, 0, size // 2, size // 2), mode="replicate"),
                 kernel.view(1, 1, size, 1).expand(channels, 1, size, 1), groups=channels)
    return x.squeeze(0)


def dense_crf(logits: Tensor, rgb: Tensor, setting: CrfSetting = CrfSetting()) -> Tensor:
    """Mean-field marginals (C x H x W, summing to 1) for one image's float logits and RGB (3 x H x W, 0-255)."""
    if rgb.shape[-2:] != logits.shape[-2:]:
        raise ValueError(f"CRF: the image is {tuple(rgb.shape[-2:])} but the logits are {tuple(logits.shape[-2:])}")
    grid = OccupiedGrid(rgb, setting.spatial_sigma, setting.colour_sigma)
    marginals = logits.softmax(0)
    for _ in range(setting.iterations):
        messages = setting.appearance * grid(marginals)
        if setting.smoothness:
            messages = messages + setting.smoothness * gaussian_blur(marginals, setting.smoothness_sigma)
        marginals = (logits + messages).softmax(0)
    return marginals


def refine_logits(logits: Tensor, rgb: Tensor, mode: str = "crf", setting: CrfSetting = CrfSetting(),
                  prior_adjustment: Tensor | None = None) -> Tensor:
    """N x C x H x W logits refined image by image against N x 3 x H x W RGB (0-255); ``mode`` "none"
    returns them unchanged. ``prior_adjustment`` (from :func:`crf_prior_adjustment`) is added to every
    pixel's logits first. The result is log-marginals: argmax and softmax read them as logits."""
    if mode not in REFINE_MODES:
        raise ValueError(f"refinement '{mode}' is not one of {', '.join(REFINE_MODES)}")
    if mode == "none":
        return logits
    if prior_adjustment is not None:
        logits = logits + prior_adjustment.to(logits.device).view(1, -1, 1, 1)
    refined = [dense_crf(scores.float(), image, setting).clamp_min(1e-12).log() for scores, image in zip(logits, rgb)]
    return torch.stack(refined)


def rgb_from_normalised(batch: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """The 0-255 RGB of a batch normalised with ``mean`` and ``std`` (its first three channels)."""
    mean_t = torch.tensor(mean[:3], dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std[:3], dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
    return ((batch[:, :3].float() * std_t + mean_t) * 255).clamp(0, 255)
