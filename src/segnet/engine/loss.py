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


def lovasz_jaccard_increments(foreground_sorted: Tensor) -> Tensor:
    """Steps of the Jaccard loss as pixels, in descending order of error, join the mistaken set.

    ``foreground_sorted`` (..., P) holds 1 where a pixel belongs to the class, ordered along the
    last dimension by falling error. Entry i is the loss with the first i+1 pixels mistaken minus
    that with the first i: the weights of the Lovász extension (Berman et al., CVPR 2018, eq. 8-9).
    """
    total = foreground_sorted.sum(-1, keepdim=True)
    missed_foreground = foreground_sorted.cumsum(-1)
    false_positives = (1.0 - foreground_sorted).cumsum(-1)
    jaccard_loss = 1.0 - (total - missed_foreground) / (total + false_positives)
    return torch.cat([jaccard_loss[..., :1], jaccard_loss[..., 1:] - jaccard_loss[..., :-1]], dim=-1)


def summed_lovasz_softmax(logits: Tensor, target: Tensor, ignore_index: int) -> Tensor:
    """Lovász-softmax loss of each image (mean over the classes its labels hold), summed over the batch.

    A convex surrogate of 1 - IoU, which cross-entropy is not: it puts its gradient on the pixels
    that most change each class's intersection over union. Per image, so that micro-batches and
    ranks add up to the whole batch. One batched sort and no host synchronisation: void pixels get
    error 0, so they sort last and add nothing; classes absent from an image are masked afterwards.
    """
    probabilities = logits.float().softmax(dim=1).flatten(2)  # (N, C, P)
    labels = target.flatten(1).unsqueeze(1)  # (N, 1, P)
    valid = labels != ignore_index
    classes = torch.arange(probabilities.shape[1], device=labels.device).view(1, -1, 1)
    foreground = ((labels == classes) & valid).to(probabilities.dtype)
    errors = (foreground - probabilities).abs() * valid
    errors_sorted, order = errors.sort(dim=-1, descending=True)
    per_class = (errors_sorted * lovasz_jaccard_increments(foreground.gather(-1, order))).sum(-1)  # (N, C)
    present = foreground.sum(-1) > 0
    per_image = (per_class * present).sum(1) / present.sum(1).clamp_min(1)
    return per_image.sum()
