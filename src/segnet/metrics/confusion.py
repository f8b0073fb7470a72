"""Confusion-matrix metrics of the SegNet paper: global accuracy G, class accuracy C and mIoU.

The whole metric state is one n x n int64 matrix (rows = ground truth, columns = prediction), so
accumulating over batches and summing across processes are both a single addition.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist


def sum_across_processes(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes in place when torch.distributed is initialised.

    A no-op in a single process, so evaluation code can call it unconditionally. NCCL only
    reduces CUDA tensors, so a CPU tensor makes a round trip to the current GPU there.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    if dist.get_backend() == "nccl" and tensor.device.type != "cuda":
        staged = tensor.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(staged, op=dist.ReduceOp.SUM)
        tensor.copy_(staged)
    else:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def _percent(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Elementwise 100 * num / den, NaN where den == 0 (the quantity is undefined there)."""
    out = np.full(np.shape(num), np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out * 100.0


def metrics_from_confusion(matrix: torch.Tensor | np.ndarray) -> dict:
    """G, C, mIoU and per-class accuracy/IoU (all in percent) from an n x n confusion matrix.

    Rows are ground truth, columns prediction. Choices (the paper does not spell them out):
    - ``class_accuracy`` (C) averages per-class recall over classes present in the ground truth;
      a class never labelled has no defined recall.
    - ``miou`` averages IoU over classes present in the ground truth OR the prediction (union > 0):
      a class predicted but never labelled has IoU 0 and is counted, because those false positives
      are real errors; a class absent from both has 0/0 and is left out.
    Undefined values (no pixels at all, absent classes) are NaN.
    """
    m = matrix.detach().cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square (n x n), got shape {m.shape}")
    m = m.astype(np.float64)
    tp = np.diag(m)
    gt = m.sum(axis=1)
    pred = m.sum(axis=0)
    union = gt + pred - tp

    recall = _percent(tp, gt)
    iou = _percent(tp, union)
    total = m.sum()
    return {
        "global_accuracy": float(100.0 * tp.sum() / total) if total > 0 else float("nan"),
        "class_accuracy": float(recall[gt > 0].mean()) if (gt > 0).any() else float("nan"),
        "miou": float(iou[union > 0].mean()) if (union > 0).any() else float("nan"),
        "per_class": [
            {"accuracy": float(recall[c]), "iou": float(iou[c]), "support": int(gt[c])}
            for c in range(m.shape[0])
        ],
    }


class ConfusionMatrix:
    """Accumulates an n x n confusion matrix over batches (rows = ground truth, cols = prediction).

    The matrix lives on the device of the data it is fed, so GPU evaluation never copies label
    maps to the host; ``compute`` moves only the n x n matrix.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def reset(self) -> None:
        """Zero the counts (e.g. at the start of each evaluation pass)."""
        self.matrix.zero_()

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch of label maps (any matching shape, integer class indices).

        Pixels whose target is ``ignore_index`` or outside [0, num_classes) are dropped. A
        prediction outside [0, num_classes) is an error: it is usually logits passed by mistake.
        """
        if pred.shape != target.shape:
            raise ValueError(
                f"pred shape {tuple(pred.shape)} must match target shape {tuple(target.shape)}; "
                "pass class indices (e.g. logits.argmax(1)), not logits"
            )
        n = self.num_classes
        target = target.reshape(-1).long()
        pred = pred.reshape(-1).to(device=target.device, dtype=torch.long)
        keep = (target >= 0) & (target < n)
        if self.ignore_index is not None:
            keep &= target != self.ignore_index
        target, pred = target[keep], pred[keep]
        if pred.numel() and (int(pred.min()) < 0 or int(pred.max()) >= n):
            raise ValueError(
                f"predictions must be class indices in [0, {n}), got values in "
                f"[{int(pred.min())}, {int(pred.max())}]"
            )
        counts = torch.bincount(n * target + pred, minlength=n * n).reshape(n, n)
        if self.matrix.device != counts.device:
            self.matrix = self.matrix.to(counts.device)
        self.matrix += counts

    def all_reduce(self) -> None:
        """Sum the matrix over all processes (no-op unless torch.distributed is initialised)."""
        sum_across_processes(self.matrix)

    def compute(self) -> dict:
        """G, C, mIoU and per-class values in percent; see ``metrics_from_confusion``."""
        return metrics_from_confusion(self.matrix)
