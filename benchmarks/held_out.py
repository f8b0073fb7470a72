"""What the held-out studies share: their options, the held-out frames' logits, and the scoring.

`logit_prior_sweep.py` and `crf_study.py` both score many variants of one model's logits on a
drive that training did not see (G, C, mIoU, BF, and mIoU on each half of the drive, so that a
choice made on one half can be checked on the other). They import this module so that both read
the frames, cache the logits and count the confusion in the same way.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from segnet.backends import prepare_for_inference
from segnet.data import build_dataset, eval_transform, select_sequences
from segnet.inference import logits_at_size
from segnet.metrics import BoundaryF1Meter, ConfusionMatrix, metrics_from_confusion


def add_held_out_options(parser: argparse.ArgumentParser) -> None:
    """The options every held-out study takes: which weights, which frames, which TTA, where to write."""
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--train-split", default="train+val")
    parser.add_argument("--holdout", default="0006R0", help="','-separated sequences that training did not see")
    parser.add_argument("--tta", default="none")
    parser.add_argument("--limit", type=int, default=0, help="first N held-out frames only (0 = all)")
    parser.add_argument("--cache", help="npz of logits, images and labels: written by a first run, read by later ones")
    parser.add_argument("--output", help="JSON file for the figures")


def holdout_names(args: argparse.Namespace) -> list[str]:
    return [name for name in args.holdout.split(",") if name]


def held_out_logits(args: argparse.Namespace, loaded, dtype: type = np.float16, frame_logits=None,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits (kept as ``dtype``), RGB images (uint8) and labels of the held-out frames; from --cache if there.

    The model runs once per frame, in float32, with the TTA given; every variant a study scores is
    then computed from these logits, so the variants differ in nothing else. Float16 halves the
    memory (the multiscale logits of 101 frames: 380 MB) at the cost of the rare near-tie.
    ``frame_logits(model, batch_of_one, size)`` replaces the TTA's logits with a study's own passes.
    """
    if args.cache and os.path.exists(args.cache):
        data = np.load(args.cache)
        return data["logits"], data["images"], data["labels"]
    held = select_sequences(build_dataset("camvid", args.data_root, args.train_split, eval_transform(None), 0),
                            keep=holdout_names(args))
    model = prepare_for_inference(loaded.model, "fp32")
    mean, std = torch.tensor(loaded.mean).view(3, 1, 1), torch.tensor(loaded.std).view(3, 1, 1)
    count = len(held) if not args.limit else min(args.limit, len(held))
    logits, images, labels = [], [], []
    start = time.perf_counter()
    with torch.no_grad():
        for index in range(count):
            image, label = held[index]
            if frame_logits is None:
                out = logits_at_size(model, image.unsqueeze(0), loaded.size, channels_last=True, tta=args.tta)[0]
            else:
                out = frame_logits(model, image.unsqueeze(0), loaded.size)
            logits.append(out.numpy().astype(dtype))
            images.append(((image * std + mean).clamp(0, 1) * 255).round().byte().numpy())
            labels.append(label.numpy().astype(np.uint8))
    print(f"{count} frames of {args.holdout} run in {time.perf_counter() - start:.0f} s ({args.tta})")
    result = np.stack(logits), np.stack(images), np.stack(labels)
    if args.cache:
        np.savez(args.cache, logits=result[0], images=result[1], labels=result[2])
    return result


class HeldOutScore:
    """Confusion of one variant over the held-out frames, kept per half of the drive, and its BF."""

    def __init__(self, class_names: list[str], ignore_index: int, frames: int, boundary_f1: bool = True):
        self.names = list(class_names)
        self.half = frames // 2
        self.halves = [ConfusionMatrix(len(self.names), ignore_index) for _ in range(2)]
        self.boundary = BoundaryF1Meter(len(self.names), ignore_index) if boundary_f1 else None

    def add(self, index: int, predicted: torch.Tensor, truth: np.ndarray) -> None:
        """Count frame ``index``'s predicted labels (H x W) against its ground truth (H x W)."""
        truth = torch.from_numpy(truth.astype(np.int64))
        if self.boundary is not None:
            self.boundary.update(predicted.unsqueeze(0), truth.unsqueeze(0))
        self.halves[int(index >= self.half)].update(predicted, truth)

    def row(self) -> dict:
        """G, C, mIoU, BF (NaN when not scored), mIoU per half and per-class IoU, in percent."""
        whole = metrics_from_confusion(self.halves[0].matrix + self.halves[1].matrix)
        first, second = (metrics_from_confusion(half.matrix) for half in self.halves)
        return {"global_accuracy": whole["global_accuracy"], "class_accuracy": whole["class_accuracy"],
                "miou": whole["miou"], "bf": self.boundary.compute() if self.boundary is not None else float("nan"),
                "miou_first_half": first["miou"], "miou_second_half": second["miou"],
                "per_class_iou": {name: row["iou"] for name, row in zip(self.names, whole["per_class"])}}


def lowest_classes(row: dict) -> str:
    """The two lowest per-class IoUs of a row, named (the target wants none under 10)."""
    lowest = sorted(row["per_class_iou"].items(), key=lambda item: item[1])[:2]
    return ", ".join(f"{name} {iou:.1f}" for name, iou in lowest)


def row_line(label: str, row: dict, width: int, extra: str = "") -> str:
    """One printed row of a study: its label, G, C, mIoU, BF | mIoU per half (then ``extra``), and
    the two lowest classes."""
    return (f"{label:>{width}} {row['global_accuracy']:>6.2f} {row['class_accuracy']:>6.2f} {row['miou']:>6.2f} "
            f"{row['bf']:>6.2f} | {row['miou_first_half']:>8.2f} {row['miou_second_half']:>8.2f}{extra}  "
            f"{lowest_classes(row)}")
