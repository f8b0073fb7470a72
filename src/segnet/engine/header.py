"""What a training run says when it starts: the lines a user checks before leaving it to run."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..optimize import emulated_bf16_warning
from .config import TrainConfig


def _size(size: tuple[int, int] | None) -> str:
    return "native" if size is None else f"{size[0]}x{size[1]}"


def run_header(cfg: TrainConfig, model: nn.Module, classes, train_frames: int, val_frames: int | None,
               class_weights: torch.Tensor | None, steps_per_epoch: int, world_size: int,
               device: torch.device) -> list[str]:
    """Model, data, class weights, device and precision, optimiser and schedule, one topic per line."""
    parameters = sum(p.numel() for p in model.parameters())
    validation = ("no validation" if val_frames is None else
                  f"{val_frames} validation frames ({'held-out ' + cfg.holdout if cfg.holdout else cfg.val_split})")
    crop = f", crops {_size(cfg.crop)}" if cfg.crop else ""
    augment = []
    if cfg.scale_aug:
        augment.append(f"scale {cfg.scale_range[0]:g}-{cfg.scale_range[1]:g}")
    augment.append("flip")
    if cfg.color_jitter:
        augment.append(f"colour jitter {cfg.color_jitter:g}")
    global_batch = cfg.batch_size * cfg.accum_steps * world_size
    lines = [
        f"segnet train: {cfg.model} ({parameters / 1e6:.2f} M parameters) on {cfg.dataset}, "
        f"{classes.num_classes} classes -> {cfg.run_dir}",
        f"  data: {train_frames} training frames ({cfg.train_split}), {validation}; working size "
        f"{_size(cfg.size)}{crop}; augmentation: {', '.join(augment)}",
    ]
    if class_weights is not None:
        pairs = ", ".join(f"{name} {float(w):.2f}" for name, w in zip(classes.names, class_weights))
        lines.append(f"  class weights (median frequency): {pairs}")
    else:
        lines.append("  class weights: none (plain cross-entropy)")
    if cfg.lovasz_weight:
        lines.append(f"  loss: cross-entropy + {cfg.lovasz_weight:g} x Lovász-softmax (per image)")
    precision = "bf16 autocast" if cfg.amp == "bf16" else "float32"
    layout = ", channels-last" if cfg.channels_last else ""
    processes = f", {world_size} processes" if world_size > 1 else ""
    feeding = ("augmented on the device" if cfg.augment_on_device else f"{cfg.workers} loader workers")
    lines.append(f"  device {device}{processes}, {precision}{layout}, {feeding}, seed {cfg.seed}")
    slow_bf16 = emulated_bf16_warning(cfg.amp, device)
    if slow_bf16:
        lines.append(f"  {slow_bf16}")
    warmup = f", warm-up {cfg.warmup_epochs:g} epochs" if cfg.warmup_epochs else ""
    start = f", from {cfg.init_weights}" if cfg.init_weights and not cfg.resume else ""
    lines.append(f"  SGD lr {cfg.lr:g} ({cfg.schedule}{warmup}), momentum {cfg.momentum:g}, weight decay "
                 f"{cfg.weight_decay:g}; batch {global_batch}, {steps_per_epoch} steps/epoch, {cfg.epochs} epochs{start}")
    if cfg.ema_decay:
        lines.append(f"  weight EMA, decay {cfg.ema_decay:g} per step (about {1 / (1 - cfg.ema_decay):.0f} steps): "
                     "validation and best.pt use it, ema.pt holds it")
    return lines


def resume_line(path: Path, epoch: int, step_in_epoch: int, global_step: int, steps_per_epoch: int,
                epochs: int) -> str:
    """Where a ``--resume`` picks up."""
    if step_in_epoch:
        where = f"epoch {epoch + 1}/{epochs} at step {step_in_epoch}/{steps_per_epoch}"
    else:
        where = f"the start of epoch {epoch + 1}/{epochs}"
    return f"  resuming {path} from {where} (optimiser step {global_step})"
