"""Training configuration: one typed dataclass, filled by the CLI, stored in every run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    model: str = "segnet"  # a name from `segnet models`
    dataset: str = "camvid"  # camvid | sunrgbd | folder
    data_root: str | None = None  # None: $SEGNET_CAMVID or ../shared/camvid
    train_split: str = "train"
    val_split: str | None = "val"  # None: no validation
    size: tuple[int, int] | None = (360, 480)  # training HxW; None keeps each image's size
    epochs: int = 100
    batch_size: int = 4  # per process and micro-batch
    accum_steps: int = 1  # micro-batches per optimiser step (global batch = batch*accum*world)
    lr: float = 0.01
    momentum: float = 0.9  # the paper's SGD
    weight_decay: float = 5e-4  # the paper's SGD
    schedule: str = "poly"  # poly (lr*(1-t)^0.9) | constant (the paper's fixed rate)
    class_weights: str = "median"  # median (the paper's median frequency balancing) | none
    encoder_weights: str | None = None  # torchvision vgg16/vgg16_bn state dict for the encoder
    scale_aug: bool = True  # random scale (0.75-1.25 of the training size) + crop
    use_depth: bool = False  # SUN RGB-D: depth as a 4th input channel
    classes_file: str | None = None  # folder dataset: classes.json
    device: str = "cpu"  # cpu | cuda
    amp: str = "none"  # none | bf16 (autocast)
    channels_last: bool = False
    workers: int = 2  # data loader processes
    seed: int = 0
    val_every: int = 1  # epochs between validations
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
        if values.get("size") is not None:
            values["size"] = tuple(values["size"])
        return cls(**values)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    def validate(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be at least 1, got {self.batch_size}"),
            (self.accum_steps >= 1, f"accum steps must be at least 1, got {self.accum_steps}"),
            (self.lr > 0, f"learning rate must be positive, got {self.lr}"),
            (self.schedule in ("poly", "constant"), f"schedule '{self.schedule}' is not poly or constant"),
            (self.class_weights in ("median", "none"), f"class weights '{self.class_weights}' are not median or none"),
            (self.device in ("cpu", "cuda"), f"device '{self.device}' is not cpu or cuda"),
            (self.amp in ("none", "bf16"), f"amp '{self.amp}' is not none or bf16"),
            (self.workers >= 0, f"workers must be >= 0, got {self.workers}"),
            (self.val_every >= 1, f"val every must be at least 1, got {self.val_every}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.size is not None and min(self.size) < 32:
            raise ValueError(f"training size {self.size[0]}x{self.size[1]} is below the 32x32 minimum")
