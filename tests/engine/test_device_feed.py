"""`--augment-on-device`: the loader's batches, made on the device; runs that resume exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from segnet.cli.main import main
from segnet.engine import TrainConfig, train


def _cfg(root: Path, run_dir: Path, **kw) -> TrainConfig:
    settings = {"model": "segnet_basic", "data_root": str(root), "size": (48, 64), "epochs": 2, "batch_size": 4,
                "workers": 0, "run_dir": str(run_dir), "val_split": None, "lr": 0.05, "color_jitter": 0.25}
    return TrainConfig(**(settings | kw))


def _losses(run_dir: Path) -> list[float]:
    with (run_dir / "metrics.csv").open(newline="") as handle:
        return [float(row["train_loss"]) for row in csv.DictReader(handle)]


def test_device_feed_trains_like_the_loader(tiny_camvid, tmp_path):
    # Same frames, same draws (scale, crop, jitter, flip) per epoch and item: the losses differ only
    # by the image resampling's rounding.
    train(_cfg(tiny_camvid, tmp_path / "loader"), progress_bar=False)
    train(_cfg(tiny_camvid, tmp_path / "device", augment_on_device=True), progress_bar=False)
    assert _losses(tmp_path / "device") == pytest.approx(_losses(tmp_path / "loader"), rel=0.02)


def test_device_feed_resumes_mid_epoch_exactly(tiny_camvid, tmp_path):
    train(_cfg(tiny_camvid, tmp_path / "straight", augment_on_device=True), progress_bar=False)
    train(_cfg(tiny_camvid, tmp_path / "cut", augment_on_device=True, max_steps=3), progress_bar=False)
    train(_cfg(tiny_camvid, tmp_path / "cut", augment_on_device=True, resume=True), progress_bar=False)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_the_cli_flag_reaches_the_run(tiny_camvid, tmp_path, capsys):
    code = main(["train", "--model", "segnet_basic", "--data-root", str(tiny_camvid), "--size", "48x64",
                 "--epochs", "1", "--batch-size", "4", "--workers", "0", "--val-split", "none", "--no-progress",
                 "--augment-on-device", "--run-dir", str(tmp_path / "run")])
    assert code == 0
    assert "augmented on the device" in capsys.readouterr().out
    assert '"augment_on_device": true' in (tmp_path / "run" / "config.json").read_text()
