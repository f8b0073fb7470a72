"""Training configuration: one typed dataclass, filled by the CLI, stored in every run."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    model: str = "segnet"  # a name from `segnet models`
    dataset: str = "camvid"  # camvid | sunrgbd | folder
    data_root: str | None = None  # None: $SEGNET_CAMVID or ../shared/camvid
    train_split: str = "train"  # one split or several joined by '+' (train+val for a final model)
    val_split: str | None = "val"  # None: no validation; several joined by '+' allowed
    # Sequence-held-out protocol: these recordings (comma-separated, e.g. 0006R0) leave training and
    # become the validation set, taken from the train and val splits together.
    holdout: str | None = None
    size: tuple[int, int] | None = (360, 480)  # working HxW the model runs at; None keeps each image's size
    crop: tuple[int, int] | None = None  # train on random HxW crops of the image at `size` (None: whole frames)
    scale_range: tuple[float, float] = (0.75, 1.25)  # random rescale before the crop (scale_aug)
    color_jitter: float = 0.0  # brightness/contrast/saturation +-s and hue +-s/6; 0 = off
    # Class copy-paste: these classes' pixels (comma-separated names, e.g. Pedestrian,Bicyclist) of another
    # training frame pasted in place, mirrored at random, with probability paste_prob; None = off.
    paste_classes: str | None = None
    paste_prob: float = 0.5
    epochs: int = 100
    batch_size: int = 4  # per process and micro-batch
    accum_steps: int = 1  # micro-batches per optimiser step (global batch = batch*accum*world)
    lr: float = 0.01
    momentum: float = 0.9  # the paper's SGD
    weight_decay: float = 5e-4  # the paper's SGD
    schedule: str = "poly"  # poly (lr*(1-t)^0.9) | cosine | constant (the paper's fixed rate)
    warmup_epochs: float = 0.0  # linear warm-up from lr/100 over this many epochs, then the schedule
    init_weights: str | None = None  # start from this checkpoint's weights (fresh optimiser and schedule)
    # Exponential moving average of the weights, updated after every step (0 = off). Validation and
    # best.pt then use the average; ema.pt holds it after each epoch, last.pt keeps the raw weights.
    ema_decay: float = 0.0
    # Weight of a Lovász-softmax term (a surrogate of 1 - IoU, per image) added to the cross-entropy; 0 = off.
    lovasz_weight: float = 0.0
    class_weights: str = "median"  # median (the paper's median frequency balancing) | none
    encoder_weights: str | None = None  # torchvision vgg16/vgg16_bn state dict for the encoder
    scale_aug: bool = True  # random scale (0.75-1.25 of the training size) + crop
    use_depth: bool = False  # SUN RGB-D: depth as a 4th input channel
    classes_file: str | None = None  # folder dataset: classes.json
    device: str = "cpu"  # cpu | cuda
    amp: str = "none"  # none | bf16 (autocast)
    channels_last: bool = False
    workers: int = 2  # data loader processes
    # Decode the training set once into device memory and augment there (a GPU's fast path; the
    # loader workers then only decode, in threads, at the start).
    augment_on_device: bool = False
    seed: int = 0
    val_every: int = 1  # epochs between validations
    val_samples: int = 4  # validation images drawn to samples/epoch_NNNN.png at each validation (0: none)
    tensorboard: bool = False  # also log to run_dir/tensorboard (needs the tensorboard extra)
    checkpoint_minutes: float = 10.0  # also write last.pt mid-epoch this often
    max_steps: int | None = None  # stop after this many optimiser steps in total (smoke runs)
    run_dir: str = "runs/train"
    resume: bool = False  # continue from run_dir/last.pt (model, optimiser, progress, RNG)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("size", "crop", "scale_range"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be at least 1, got {self.batch_size}"),
            (self.accum_steps >= 1, f"accum steps must be at least 1, got {self.accum_steps}"),
            (math.isfinite(self.lr) and self.lr > 0, f"learning rate must be a positive number, got {self.lr}"),
            (self.max_steps is None or self.max_steps >= 1, f"max steps must be at least 1, got {self.max_steps}"),
            (math.isfinite(self.checkpoint_minutes) and self.checkpoint_minutes >= 0,
             f"checkpoint minutes must be >= 0, got {self.checkpoint_minutes}"),
            (math.isfinite(self.momentum) and 0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0,
             f"weight decay must be >= 0, got {self.weight_decay}"),
            (self.schedule in ("poly", "cosine", "constant"),
             f"schedule '{self.schedule}' is not poly, cosine or constant"),
            (self.warmup_epochs >= 0, f"warm-up epochs must be >= 0, got {self.warmup_epochs}"),
            (math.isfinite(self.ema_decay) and 0 <= self.ema_decay < 1,
             f"EMA decay must be in [0, 1) (0 = off), got {self.ema_decay}"),
            (0 <= self.color_jitter < 1, f"colour jitter must be in [0, 1), got {self.color_jitter}"),
            (math.isfinite(self.paste_prob) and 0 < self.paste_prob <= 1,
             f"copy-paste probability must be in (0, 1], got {self.paste_prob}"),
            (not (self.paste_classes and self.use_depth), "copy-paste does not support a depth channel; drop one"),
            (0 < self.scale_range[0] <= self.scale_range[1],
             f"scale range must satisfy 0 < min <= max, got {self.scale_range[0]}-{self.scale_range[1]}"),
            (math.isfinite(self.lovasz_weight) and self.lovasz_weight >= 0,
             f"Lovász weight must be >= 0 (0 = off), got {self.lovasz_weight}"),
            (self.class_weights in ("median", "none"), f"class weights '{self.class_weights}' are not median or none"),
            (self.device in ("cpu", "cuda"), f"device '{self.device}' is not cpu or cuda"),
            (self.amp in ("none", "bf16"), f"amp '{self.amp}' is not none or bf16"),
            (self.workers >= 0, f"workers must be >= 0, got {self.workers}"),
            (self.val_every >= 1, f"val every must be at least 1, got {self.val_every}"),
            (self.val_samples >= 0, f"val samples must be >= 0, got {self.val_samples}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.size is not None and min(self.size) < 32:
            raise ValueError(f"training size {self.size[0]}x{self.size[1]} is below the 32x32 minimum")
        if self.crop is not None and min(self.crop) < 32:
            raise ValueError(f"crop {self.crop[0]}x{self.crop[1]} is below the 32x32 minimum")
        if self.holdout is not None and not self.holdout_sequences:
            raise ValueError("holdout names no sequence; give e.g. 0006R0 or 0001TP,0006R0")

    @property
    def holdout_sequences(self) -> list[str]:
        return [name.strip() for name in (self.holdout or "").split(",") if name.strip()]
