"""Checkpoints that rebuild their model alone, written atomically, read with ``weights_only``.

A checkpoint carries the model spec, the class list and the input normalisation, so
``segnet evaluate``/``predict`` need nothing but the file. Writing goes to a temporary file in
the same folder, fsync'd, then renamed over the target: a crash leaves the old file intact.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import ClassSet
from .models import ModelSpec, create_model_from_spec

FORMAT = "segnet-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable or does not fit what is asked of it."""


def _default_mode() -> int:
    """Permissions a plain open() would give (mkstemp makes files private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_save(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint with what inference needs to use it."""

    model: nn.Module
    spec: ModelSpec
    classes: ClassSet
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: tuple[int, int] | None  # training/inference HxW; None = native size
    path: str
    int8_ranges: dict[str, tuple[float, float]] | None = None  # from `segnet quantize`
    backend: str = "torch"  # what runs `model`: torch, onnxruntime or openvino (segnet.runtimes)
    exported_precision: str | None = None  # an exported file's own precision (fp32, int8); None: a checkpoint
    fixed_size: bool = False  # a static export: runs at ``size`` only
    prior_shift_alpha: float | None = None  # `segnet shift-prior`'s alpha, when the class prior was shifted
    prior_offsets: tuple[float, ...] | None = None  # the logit offsets that shift added, one per class


# What only `--resume` reads (segnet.engine.trainer writes them into last.pt): an inference
# checkpoint leaves them out, at half a last.pt's size.
TRAINING_STATE_KEYS = ("optimizer", "rng", "ema")


def without_training_state(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the keys only a resume needs removed (in place; returned for chaining)."""
    for key in TRAINING_STATE_KEYS:
        data.pop(key, None)
    return data


# What `segnet quantize` adds: activation ranges measured on particular weights and statistics.
INT8_CALIBRATION_KEYS = ("int8_ranges", "int8_calibration")


def with_new_weights(data: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """``data`` with ``model``'s weights as its state dict (contiguous, on the CPU) and its int8
    calibration dropped, which was measured on the old weights (in place; returned for chaining).
    For the commands that rewrite a checkpoint's weights: ``refresh-bn`` and ``shift-prior``."""
    for key in INT8_CALIBRATION_KEYS:
        data.pop(key, None)
    data["state_dict"] = {name: tensor.detach().cpu().contiguous() for name, tensor in model_state(model).items()}
    return data


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """State dict of the bare model (unwrapping DDP and torch.compile)."""
    model = getattr(model, "module", model)
    model = getattr(model, "_orig_mod", model)
    return model.state_dict()


def make_checkpoint(
    model: nn.Module,
    classes: ClassSet,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    size: tuple[int, int] | None,
    **extra: Any,
) -> dict[str, Any]:
    bare = getattr(model, "module", model)
    spec: ModelSpec = bare.spec
    return {
        "format": FORMAT,
        "model": spec.to_dict(),
        "classes": classes.to_dict(),
        "normalization": {"mean": list(mean), "std": list(std)},
        "size": list(size) if size else None,
        "state_dict": model_state(model),
        **extra,
    }


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first_line})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a segnet checkpoint (no '{FORMAT}' format tag)")
    return data


def load_model(
    path: str | Path,
    expect_model: str | None = None,
    expect_num_classes: int | None = None,
    map_location: str | torch.device = "cpu",
) -> LoadedModel:
    """Rebuild the model of a checkpoint; mismatches with what the caller expects are errors."""
    data = read_checkpoint(path)
    for key in ("model", "state_dict", "classes", "normalization"):
        if key not in data:
            raise CheckpointError(f"{path}: checkpoint has no '{key}' entry; it was not written by segnet")
    try:
        spec = ModelSpec.from_dict(data["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: unusable model entry ({error})") from None
    if expect_model is not None and spec.name != expect_model:
        raise CheckpointError(f"{path}: checkpoint holds model '{spec.name}', expected '{expect_model}'")
    if expect_num_classes is not None and spec.num_classes != expect_num_classes:
        raise CheckpointError(
            f"{path}: checkpoint has {spec.num_classes} classes, the dataset has {expect_num_classes}"
        )
    model = create_model_from_spec(spec)
    try:
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as error:
        raise CheckpointError(f"{path}: weights do not fit model '{spec.name}' ({str(error).splitlines()[0]})") from None
    model.to(map_location).eval()
    size, ranges = _checked_size(data.get("size"), path), _checked_ranges(data.get("int8_ranges"), path)
    try:
        norm = data["normalization"]
        mean, std = tuple(float(v) for v in norm["mean"]), tuple(float(v) for v in norm["std"])
        classes = ClassSet.from_dict(data["classes"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: unusable classes or normalisation entry ({error})") from None
    if len(mean) != len(std) or not all(v > 0 for v in std):
        raise CheckpointError(f"{path}: normalisation needs one positive std per mean, got mean {mean}, std {std}")
    alpha, offsets = _checked_prior_shift(data.get("prior_shift"), classes.num_classes, path)
    return LoadedModel(model, spec, classes, mean, std, size, str(path), ranges,
                       prior_shift_alpha=alpha, prior_offsets=offsets)


def _checked_size(value: Any, path: str | Path) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        height, width = (int(v) for v in value)
    except (TypeError, ValueError):
        raise CheckpointError(f"{path}: size entry {value!r} is not [height, width]") from None
    if height < 1 or width < 1:
        raise CheckpointError(f"{path}: size entry {height}x{width} is not a positive size")
    return height, width


def _checked_prior_shift(value: Any, num_classes: int,
                         path: str | Path) -> tuple[float | None, tuple[float, ...] | None]:
    """The alpha and logit offsets of a `segnet shift-prior` record, (None, None) for a checkpoint without
    one; offsets None for a record without them."""
    if value is None:
        return None, None
    try:
        alpha = float(value["alpha"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: prior_shift entry {value!r} has no alpha; re-run segnet shift-prior") from None
    if not 0 <= alpha <= 1:
        raise CheckpointError(f"{path}: prior_shift alpha {alpha} is not from 0 to 1; re-run segnet shift-prior")
    if value.get("offsets") is None:
        return alpha, None
    try:
        offsets = tuple(float(v) for v in value["offsets"])
    except (TypeError, ValueError):
        offsets = ()
    if len(offsets) != num_classes or not all(math.isfinite(v) for v in offsets):
        raise CheckpointError(f"{path}: prior_shift offsets must be {num_classes} finite numbers (one per class), "
                              f"got {len(offsets)}; re-run segnet shift-prior")
    return alpha, offsets


def _checked_ranges(value: Any, path: str | Path) -> dict[str, tuple[float, float]] | None:
    if value is None:
        return None
    try:
        ranges = {str(name): (float(low), float(high)) for name, (low, high) in value.items()}
    except (AttributeError, TypeError, ValueError):
        raise CheckpointError(f"{path}: int8_ranges entry is not a map of (low, high) pairs; "
                              "re-run segnet quantize") from None
    for name, (low, high) in ranges.items():
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise CheckpointError(f"{path}: int8 range of {name} is [{low}, {high}]; re-run segnet quantize")
    return ranges


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file via a temporary file and rename, like the checkpoints."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
