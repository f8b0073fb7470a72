"""BatchNorm statistics measured again on clean frames at the sizes the model runs at.

During training each BatchNorm keeps an exponential average of batch statistics over frames that
were colour-jittered and rescaled, taken while the weights still moved. At inference the model
meets plain frames at its working size (and, with multiscale test-time augmentation, scaled copies
of it). Replacing the running mean and variance by their plain average over such frames, with
the final weights, gives inference the statistics it actually meets. No weight changes.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..inference import autocast_context


def refresh_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor], device: torch.device,
                      amp: str = "none", channels_last: bool = False) -> int:
    """Replace every BatchNorm's running statistics by their average over ``batches``; returns frames seen.

    Each batch counts equally (a cumulative average, not an exponential one). Only the BatchNorm
    layers run in training mode, so dropout and the like stay off.
    """
    norms = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError("the model has no BatchNorm layers whose statistics could be refreshed")
    momenta = [norm.momentum for norm in norms]
    was_training = model.training
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over all batches
        norm.train()
    frames = 0
    try:
        with torch.no_grad():
            for images in batches:
                images = images.to(device)
                if channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                with autocast_context(device, amp):
                    model(images)
                frames += images.shape[0]
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        model.train(was_training)
    if frames == 0:
        raise ValueError("no frames to measure the BatchNorm statistics on")
    return frames
