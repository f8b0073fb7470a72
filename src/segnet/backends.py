"""Every way this package runs a model, behind one call each.

- In-process torch paths, from a checkpoint: fp32 and bf16 (:mod:`segnet.optimize`: BatchNorm
  folded, channels-last) and int8 (:mod:`segnet.quantize`: oneDNN int8 convs, 2-bit pooling
  indices). :func:`prepare_for_inference` picks one for a precision.
- Exported files (:mod:`segnet.runtimes`): ONNX in ONNX Runtime or OpenVINO, OpenVINO IR, .pt2.

Both give a module mapping a normalised N x C x H x W float32 batch to float32 logits, which is
all that :class:`segnet.Segmenter`, ``evaluate`` and the benchmarks need. The dependency runs one
way: this module imports ``optimize``, ``quantize`` and ``runtimes``; none of them imports it.
"""

from __future__ import annotations

import torch
from torch import nn

from pathlib import Path

from .checkpoint import LoadedModel, load_model
from .optimize import prepare_float, resolve_precision
from .quantize import quantize_model
from .runtimes import BACKENDS, default_backend, is_exported, load_exported

__all__ = ["BACKENDS", "check_exported_device", "default_backend", "is_exported", "load_any", "load_exported", "prepare_for_inference"]


def check_exported_device(path: str | Path, device: torch.device) -> None:
    """Exported files run in ONNX Runtime or OpenVINO on the CPU: refuse any other device, naming the file."""
    if device.type != "cpu":
        raise ValueError(f"{path}: exported models run on the CPU here, not on {device}")


def load_any(path: str | Path, backend: str | None = None, device: torch.device = torch.device("cpu"),
             expect_num_classes: int | None = None) -> LoadedModel:
    """A checkpoint (runs in torch on ``device``) or an exported file (runs in its runtime, on the CPU)."""
    if is_exported(path):
        check_exported_device(path, device)
        loaded = load_exported(path, backend)
        if expect_num_classes is not None and loaded.spec.num_classes != expect_num_classes:
            raise ValueError(f"{path}: {loaded.spec.num_classes} classes, the dataset has {expect_num_classes}")
        return loaded
    if backend not in (None, "torch"):
        raise ValueError(f"{path}: a checkpoint runs in torch; export it to run it in {backend} (segnet export)")
    return load_model(path, expect_num_classes=expect_num_classes, map_location=device)


def prepare_for_inference(
    model: nn.Module,
    precision: str = "auto",
    channels_last: bool = True,
    fold_bn: bool = True,
    device: str | torch.device = "cpu",
    int8_ranges: dict[str, tuple[float, float]] | None = None,
) -> nn.Module:
    """A copy of ``model`` set up for fast inference in ``precision``; the original is left untouched.

    int8 needs the activation ranges of a calibration (``segnet.quantize.calibrate``, stored in the
    checkpoint by ``segnet quantize``); ``auto`` uses int8 only when they are given.
    """
    device = torch.device(device)
    resolved = resolve_precision(precision, device, calibrated=int8_ranges is not None)
    if resolved == "int8":
        if int8_ranges is None:
            raise ValueError("precision 'int8' needs calibrated activation ranges: run `segnet quantize` "
                             "on the checkpoint first")
        return quantize_model(model, int8_ranges)
    return prepare_float(model, resolved, channels_last=channels_last, fold_bn=fold_bn, device=device)
