"""Running a trained model on image tensors at the model's working size."""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def autocast_context(device: torch.device, amp: str | None):
    """bf16 autocast when asked for; float32 otherwise."""
    if amp in (None, "", "none", "fp32"):
        return nullcontext()
    if amp != "bf16":
        raise ValueError(f"amp '{amp}' is not supported; use 'bf16' or 'none'")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def logits_at_size(
    model: nn.Module,
    images: Tensor,
    size: tuple[int, int] | None = None,
    amp: str | None = None,
    channels_last: bool = False,
) -> Tensor:
    """Float32 logits at the images' own size, the model running at ``size`` (HxW) if given.

    Images are resized (bilinear, antialiased) to ``size`` and the logits brought back bilinearly,
    so labels are always predicted at the resolution they are scored at.
    """
    height, width = images.shape[-2:]
    x = images
    if size is not None and tuple(size) != (height, width):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast_context(x.device, amp):
        logits = model(x)
    logits = logits.float()
    if logits.shape[-2:] != (height, width):
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
    return logits
