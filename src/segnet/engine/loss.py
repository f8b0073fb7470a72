"""Weighted pixel-wise cross-entropy, normalised over the whole global batch.

Each process sums its pixel losses and divides by the class-weight total of the *global* batch
(all micro-batches, all ranks), so a step is the same whatever the split into processes or
gradient-accumulation micro-batches: DDP then averages gradients, hence the ``world_size`` factor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def loss_normalizer(target: Tensor, class_weights: Tensor | None, ignore_index: int) -> Tensor:
    """Sum of the weights of the labelled pixels (their count without class weights)."""
    valid = target != ignore_index
    if class_weights is None:
        return valid.sum().to(torch.float64)
    return class_weights.to(target.device)[target[valid]].sum().to(torch.float64)


def summed_cross_entropy(
    logits: Tensor, target: Tensor, class_weights: Tensor | None, ignore_index: int
) -> Tensor:
    weight = None if class_weights is None else class_weights.to(logits.device, torch.float32)
    return F.cross_entropy(logits.float(), target, weight=weight, ignore_index=ignore_index, reduction="sum")
