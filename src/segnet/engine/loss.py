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

    ``foreground_sorted`` (C, P) holds 1 where a pixel belongs to the class, ordered per row by
    falling error. Entry i is the loss with the first i+1 pixels mistaken minus that with the first
    i: the weights of the Lovász extension (Berman et al., CVPR 2018, eq. 8-9).
    """
    total = foreground_sorted.sum(1, keepdim=True)
    missed_foreground = foreground_sorted.cumsum(1)
    false_positives = (1.0 - foreground_sorted).cumsum(1)
    jaccard_loss = 1.0 - (total - missed_foreground) / (total + false_positives)
    return torch.cat([jaccard_loss[:, :1], jaccard_loss[:, 1:] - jaccard_loss[:, :-1]], dim=1)


def summed_lovasz_softmax(logits: Tensor, target: Tensor, ignore_index: int) -> Tensor:
    """Lovász-softmax loss of each image (mean over the classes its labels hold), summed over the batch.

    A convex surrogate of 1 - IoU, which cross-entropy is not: it puts its gradient on the pixels
    that most change each class's intersection over union. Per image, so that micro-batches and
    ranks add up to the whole batch.
    """
    probabilities = logits.float().softmax(dim=1)
    total = probabilities.new_zeros(())
    for image_probs, image_target in zip(probabilities, target):
        valid = image_target != ignore_index
        if not bool(valid.any()):
            continue
        labels = image_target[valid]
        present = torch.bincount(labels, minlength=image_probs.shape[0]) > 0
        probs = image_probs[present][:, valid]  # (classes present, labelled pixels)
        foreground = (labels.unsqueeze(0) == present.nonzero()).to(probs.dtype)
        errors_sorted, order = (foreground - probs).abs().sort(dim=1, descending=True)
        weights = lovasz_jaccard_increments(foreground.gather(1, order))
        total = total + (errors_sorted * weights).sum(1).mean()
    return total
