"""Monte Carlo dropout inference for Bayesian SegNet.

Bayesian SegNet keeps dropout on at test time and averages the softmax of several passes; the
spread of those samples is the model's uncertainty. BatchNorm stays in eval mode (its running
statistics), only the dropout layers sample.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _dropout_layers(model: nn.Module) -> list[nn.Module]:
    kinds = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.Dropout3d, nn.AlphaDropout)
    return [m for m in model.modules() if isinstance(m, kinds)]


@torch.no_grad()
def mc_dropout_predict(model: nn.Module, images: Tensor, samples: int = 8) -> tuple[Tensor, Tensor]:
    """Mean class probabilities (N, K, H, W) and per-pixel uncertainty (N, H, W).

    The uncertainty is the per-class variance of the sampled probabilities averaged over classes,
    the measure of the Bayesian SegNet paper. Samples are accumulated as running sums, so memory
    does not grow with ``samples``.
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    dropouts = _dropout_layers(model)
    if not dropouts:
        raise ValueError(
            f"{type(model).__name__} has no dropout layers: Monte Carlo sampling needs a Bayesian model"
        )
    was_training = model.training
    model.eval()
    for layer in dropouts:
        layer.train()
    try:
        total = total_sq = None
        for _ in range(samples):
            probs = torch.softmax(model(images).float(), dim=1)
            if total is None:
                total, total_sq = probs, probs * probs
            else:
                total += probs
                total_sq += probs * probs
    finally:
        model.train(was_training)
    mean = total / samples
    variance = (total_sq / samples - mean * mean).clamp_min_(0)
    return mean, variance.mean(dim=1)
