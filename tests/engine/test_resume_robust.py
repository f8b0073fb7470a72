"""Resume that always works and run directories that never mix runs."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch

import segnet
from segnet.cli.main import main
from segnet.engine import TrainConfig, train
from segnet.engine.trainer import _write_metrics_row
from segnet.models import count_parameters


def _cfg(root: Path, run_dir: Path, model: str = "segnet_basic", **kw) -> TrainConfig:
    settings = {"model": model, "data_root": str(root), "size": (48, 64), "epochs": 2, "batch_size": 2,
                "workers": 0, "run_dir": str(run_dir), "val_split": None, "lr": 0.01, "class_weights": "none",
                "scale_aug": False}
    return TrainConfig(**(settings | kw))


def _state(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "last.pt", weights_only=True)["state_dict"]


def _parameters(name: str) -> int:
    with torch.device("meta"):  # counted without allocating or initialising anything
        return count_parameters(segnet.create_model(name, 11))


# FCN-8s and DeconvNet (134 M and 252 M parameters, their fc6/fc7 alone 120 M) took 92 s and 202 s
# here on a 2-core AVX2 CPU; the state a resume must restore is the same kind in the smaller models
# (dropout masks: bayesian_segnet_basic, deeplab_largefov; BatchNorm and compact indices: segnet).
# Bayesian SegNet is SegNet plus dropout, whose state bayesian_segnet_basic and deeplab_largefov cover.
RESUMED_MODELS = [name for name in segnet.list_models()
                  if _parameters(name) < 100_000_000 and name != "bayesian_segnet"]


@pytest.mark.parametrize("model", RESUMED_MODELS)
def test_mid_epoch_resume_is_exact_for_each_model_below_100m_parameters(tiny_camvid, tmp_path, model):
    # 8 frames, batch 4 at 32x32: 2 steps per epoch; stop after 3 (inside epoch 2), then resume.
    small = {"size": (32, 32), "batch_size": 4}
    torch.manual_seed(123)  # the global generator's state before training must not matter either
    train(_cfg(tiny_camvid, tmp_path / "straight", model, **small), progress_bar=False)
    train(_cfg(tiny_camvid, tmp_path / "cut", model, max_steps=3, **small), progress_bar=False)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["progress"]["step_in_epoch"] == 1
    torch.manual_seed(456)
    train(_cfg(tiny_camvid, tmp_path / "cut", model, resume=True, **small), progress_bar=False)
    a, b = _state(tmp_path / "straight"), _state(tmp_path / "cut")
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_after_a_crash_in_validation_at_the_epoch_end(tiny_camvid, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_camvid, root)
    good = (root / "val" / "seq_001.png").read_bytes()
    (root / "val" / "seq_001.png").write_bytes(good[: len(good) // 3])  # validation will fail
    run = tmp_path / "run"
    # checkpoint_minutes=0: last.pt is written after every step, the epoch's last one included.
    with pytest.raises(ValueError, match="seq_001"):
        train(_cfg(root, run, val_split="val", checkpoint_minutes=0.0), progress_bar=False)
    progress = torch.load(run / "last.pt", weights_only=True)["progress"]
    assert (progress["epoch"], progress["step_in_epoch"]) == (0, 4)
    (root / "val" / "seq_001.png").write_bytes(good)
    train(_cfg(root, run, val_split="val", checkpoint_minutes=0.0, resume=True), progress_bar=False)
    train(_cfg(root, tmp_path / "straight", val_split="val"), progress_bar=False)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    straight = list(csv.DictReader((tmp_path / "straight" / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for resumed_row, straight_row in zip(rows, straight):  # the resumed epoch reports its whole loss
        assert float(resumed_row["train_loss"]) == pytest.approx(float(straight_row["train_loss"]), rel=1e-5)
        assert resumed_row["lr"] == straight_row["lr"]


def test_metrics_rows_of_a_redone_epoch_replace_the_old_ones(tmp_path):
    path = tmp_path / "metrics.csv"
    for epoch in (1, 2, 3):
        _write_metrics_row(path, {"epoch": epoch, "train_loss": f"{epoch}.0"}, keep_below=epoch)
    _write_metrics_row(path, {"epoch": 3, "train_loss": "9.0"}, keep_below=3)  # epoch 3 redone after a kill
    rows = list(csv.DictReader(path.open()))
    assert [(r["epoch"], r["train_loss"]) for r in rows] == [("1", "1.0"), ("2", "2.0"), ("3", "9.0")]


def test_a_folder_holding_other_files_is_refused(tiny_camvid, tmp_path, capsys):
    run = tmp_path / "someone-else"
    run.mkdir()
    (run / "config.json").write_text('{"theirs": true}\n')
    code = main(["train", "--data-root", str(tiny_camvid), "--run-dir", str(run), "--model", "segnet_basic",
                 "--size", "32x48", "--workers", "0", "--no-progress", "--epochs", "1"])
    assert code == 2
    assert "already holds other files" in capsys.readouterr().err
    assert (run / "config.json").read_text() == '{"theirs": true}\n'
    assert not (run / "metrics.csv").exists()


def test_resume_clears_temporary_files_a_kill_left(tiny_camvid, tmp_path):
    run = tmp_path / "run"
    train(_cfg(tiny_camvid, run, max_steps=2), progress_bar=False)
    for name in (".last.pt.abc123.tmp", ".best.pt.xyz.tmp"):
        (run / name).write_bytes(b"half a checkpoint")
    train(_cfg(tiny_camvid, run, max_steps=3, resume=True), progress_bar=False)
    assert not list(run.glob(".*.tmp"))


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_bad_image_is_named_with_or_without_loader_workers(tiny_camvid, tmp_path, capsys, workers):
    root = tmp_path / "data"
    shutil.copytree(tiny_camvid, root)
    data = (root / "train" / "seq_002.png").read_bytes()
    (root / "train" / "seq_002.png").write_bytes(data[: len(data) // 2])
    code = main(["train", "--data-root", str(root), "--run-dir", str(tmp_path / "run"), "--model", "segnet_basic",
                 "--size", "32x48", "--batch-size", "8", "--workers", workers, "--no-progress", "--epochs", "1",
                 "--class-weights", "none", "--val-split", "none"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "seq_002.png" in err and "DataLoader worker" not in err


def test_a_list_file_that_is_not_utf8_is_named(tiny_camvid, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_camvid, root)
    (root / "train.txt").write_bytes(b"\xff\xfe/SegNet/train/seq_000.png /SegNet/trainannot/seq_000.png\n")
    with pytest.raises(ValueError, match=r"train\.txt: not a UTF-8 text list"):
        segnet.data.build_dataset("camvid", root, "train")


@pytest.mark.parametrize("option, value, message", [
    ("--max-steps", "0", "max steps must be at least 1"),
    ("--max-steps", "-1", "max steps must be at least 1"),
    ("--checkpoint-minutes", "-1", "checkpoint minutes must be >= 0"),
    ("--lr", "inf", "learning rate must be a positive number"),
    ("--lr", "nan", "learning rate must be a positive number"),
])
def test_impossible_settings_fail_before_any_work(tiny_camvid, tmp_path, capsys, option, value, message):
    run = tmp_path / "run"
    code = main(["train", "--data-root", str(tiny_camvid), "--run-dir", str(run), "--model", "segnet_basic",
                 "--size", "32x48", "--workers", "0", "--no-progress", option, value])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not run.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a CPU-only machine")
def test_cuda_on_a_cpu_only_machine_is_one_line(tiny_camvid, tmp_path, capsys):
    code = main(["train", "--data-root", str(tiny_camvid), "--run-dir", str(tmp_path / "run"), "--device", "cuda",
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "CUDA is not available" in err
