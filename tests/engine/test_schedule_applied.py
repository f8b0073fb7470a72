"""The learning rate the optimiser actually steps with, and an exact resume with gradient accumulation."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from segnet.engine import TrainConfig, train


def _cfg(root: Path, run_dir: Path, **kw) -> TrainConfig:
    settings = {"model": "segnet_basic", "data_root": str(root), "size": (32, 32), "epochs": 2, "batch_size": 2,
                "workers": 0, "run_dir": str(run_dir), "val_split": None, "lr": 0.1, "class_weights": "none",
                "scale_aug": False}
    return TrainConfig(**(settings | kw))


def _hand_schedule(schedule: str, lr: float, total: int, warmup: int) -> list[float]:
    """The rates by hand: linear warm-up from lr/100 over ``warmup`` steps, then the schedule."""
    import math

    rates = []
    for step in range(total):
        if step < warmup:
            rates.append(lr * (0.01 + 0.99 * step / warmup))
            continue
        t = (step - warmup) / (total - warmup)
        rates.append({"poly": lr * (1 - t) ** 0.9, "cosine": lr * 0.5 * (1 + math.cos(math.pi * t)),
                      "constant": lr}[schedule])
    return rates


@pytest.mark.parametrize("schedule, warmup_epochs", [("poly", 0.0), ("cosine", 1.0), ("constant", 0.0)])
def test_each_optimiser_step_uses_the_scheduled_rate(tiny_camvid, tmp_path, monkeypatch, schedule, warmup_epochs):
    used: list[float] = []
    real_step = torch.optim.SGD.step

    def spy(self, *args, **kwargs):
        used.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", spy)
    run = tmp_path / "run"
    # 8 frames, batch 2: 4 steps per epoch, 8 in all; the warm-up is the first epoch's 4 steps.
    train(_cfg(tiny_camvid, run, schedule=schedule, warmup_epochs=warmup_epochs), progress_bar=False)
    want = _hand_schedule(schedule, 0.1, 8, round(4 * warmup_epochs))
    assert used == pytest.approx(want, rel=1e-9, abs=1e-12)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [float(r["lr"]) for r in rows] == pytest.approx([want[3], want[7]], rel=1e-5)  # each epoch's last step


def test_mid_epoch_resume_with_gradient_accumulation_is_exact(tiny_camvid, tmp_path):
    # batch 1 x 2 micro-batches: 4 optimiser steps per epoch; stop after 5 (one into epoch 2).
    settings = {"batch_size": 1, "accum_steps": 2}
    train(_cfg(tiny_camvid, tmp_path / "straight", **settings), progress_bar=False)
    train(_cfg(tiny_camvid, tmp_path / "cut", max_steps=5, **settings), progress_bar=False)
    progress = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["progress"]
    assert (progress["epoch"], progress["step_in_epoch"]) == (1, 1)
    train(_cfg(tiny_camvid, tmp_path / "cut", resume=True, **settings), progress_bar=False)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_persistent_loader_workers_train_exactly_as_no_workers(tiny_camvid, tmp_path):
    """One loader with persistent workers serves every epoch: with scale augmentation on (so the
    epoch must reach the workers through the sampler), micro-batches left over each epoch (8
    frames, 2 steps of 3), and a resume in the middle of epoch 2, the weights equal a run without
    workers."""
    settings = {"batch_size": 1, "accum_steps": 3, "scale_aug": True, "epochs": 3}
    train(_cfg(tiny_camvid, tmp_path / "plain", **settings), progress_bar=False)
    train(_cfg(tiny_camvid, tmp_path / "workers", workers=2, max_steps=3, **settings), progress_bar=False)
    progress = torch.load(tmp_path / "workers" / "last.pt", weights_only=True)["progress"]
    assert (progress["epoch"], progress["step_in_epoch"]) == (1, 1)
    train(_cfg(tiny_camvid, tmp_path / "workers", workers=2, resume=True, **settings), progress_bar=False)
    a = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "workers" / "last.pt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
