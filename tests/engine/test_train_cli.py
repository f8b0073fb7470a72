"""`segnet train` / `segnet evaluate` end to end on a tiny CamVid-layout dataset."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import confusion_matrix

from segnet.cli.main import main
from segnet.weights import resolve_weights

COMMON = ["--model", "segnet_basic", "--size", "32x48", "--batch-size", "2", "--workers", "0",
          "--no-progress", "--lr", "0.05"]


def train_args(root, run_dir, *extra):
    return ["train", "--data-root", str(root), "--run-dir", str(run_dir), *COMMON, *extra]


def weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def test_run_directory_is_complete(tiny_camvid, tmp_path):
    run = tmp_path / "run"
    assert main(train_args(tiny_camvid, run, "--epochs", "2")) == 0
    for name in ("config.json", "metrics.csv", "best.pt", "last.pt", "loss.png", "val_miou.png"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(0 <= float(r["val_miou"]) <= 100 for r in rows)
    # 8 frames, batch 2: 4 steps an epoch; each row's lr is the poly rate of its epoch's last step (3, 7 of 8)
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.05 * (1 - 3 / 8) ** 0.9, 0.05 * (1 - 7 / 8) ** 0.9],
                                                           rel=1e-5)
    losses = [float(r["train_loss"]) for r in rows]
    assert all(0 < loss < 10 for loss in losses)
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "segnet_basic" and config["size"] == [32, 48]
    last = torch.load(run / "last.pt", weights_only=True)
    assert last["progress"]["epoch"] == 2 and last["classes"]["names"][0] == "Sky"


def test_a_last_pt_without_its_config_json_resumes_with_the_config_it_records(tiny_camvid, tmp_path):
    # What a GPU lease sends back of a stage it cut short is last.pt alone.
    run = tmp_path / "run"
    assert main(train_args(tiny_camvid, run, "--epochs", "3", "--lr", "0.02", "--max-steps", "5")) == 0
    (run / "config.json").unlink()
    assert main(["train", "--run-dir", str(run), "--resume", "--max-steps", "1000", "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 3 and config["lr"] == 0.02 and config["size"] == [32, 48]  # not the defaults
    assert [r["epoch"] for r in csv.DictReader((run / "metrics.csv").open())] == ["1", "2", "3"]


def test_a_resume_with_no_config_anywhere_is_one_line(tmp_path, capsys):
    assert main(["train", "--run-dir", str(tmp_path), "--resume", "--no-progress"]) == 2
    assert "no last.pt to resume from" in capsys.readouterr().err
    # a checkpoint that records no training config (weights only)
    weights_only = {k: v for k, v in torch.load(resolve_weights(None), weights_only=False).items() if k != "config"}
    torch.save(weights_only, tmp_path / "last.pt")
    assert main(["train", "--run-dir", str(tmp_path), "--resume", "--no-progress"]) == 2
    assert "no config.json beside it and no training config in it" in capsys.readouterr().err


def test_interrupted_run_resumes_exactly(tiny_camvid, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert main(train_args(tiny_camvid, straight, "--epochs", "2")) == 0
    # Stop in the middle of epoch 2 (4 steps per epoch), then resume to the end.
    assert main(train_args(tiny_camvid, interrupted, "--epochs", "2", "--max-steps", "5")) == 0
    assert torch.load(interrupted / "last.pt", weights_only=True)["progress"]["step_in_epoch"] == 1
    assert main(["train", "--run-dir", str(interrupted), "--resume", "--max-steps", "1000", "--no-progress"]) == 0
    a, b = weights(straight / "last.pt"), weights(interrupted / "last.pt")
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    rows = list(csv.DictReader((interrupted / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]


def test_existing_run_is_not_overwritten(tiny_camvid, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(tiny_camvid, run, "--epochs", "1", "--max-steps", "1")) == 0
    before = (run / "last.pt").read_bytes()
    assert main(train_args(tiny_camvid, run, "--epochs", "1")) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run / "last.pt").read_bytes() == before


@pytest.mark.parametrize("problem", ["missing", "empty", "bad_label", "truncated"])
def test_bad_data_is_a_one_line_error(tiny_camvid, tmp_path, capsys, problem):
    import shutil

    root = tmp_path / "data"
    if problem != "missing":
        shutil.copytree(tiny_camvid, root)
    if problem == "empty":
        for f in (root / "train").iterdir():
            f.unlink()
    elif problem == "bad_label":
        Image.fromarray(np.full((48, 64), 40, np.uint8)).save(root / "trainannot" / "seq_000.png")
    elif problem == "truncated":
        data = (root / "train" / "seq_001.png").read_bytes()
        (root / "train" / "seq_001.png").write_bytes(data[: len(data) // 2])
    code = main(train_args(root, tmp_path / "run", "--epochs", "1", "--class-weights", "none"))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("segnet train: error:")
    if problem in ("bad_label", "truncated"):
        assert "seq_00" in err


def test_evaluate_writes_metrics_that_recompute_from_predictions(tiny_camvid, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(tiny_camvid, run, "--epochs", "2")) == 0
    capsys.readouterr()
    out, preds = tmp_path / "eval", tmp_path / "preds"
    assert main(["evaluate", "--weights", str(run / "best.pt"), "--data-root", str(tiny_camvid), "--split", "val",
                 "--output", str(out), "--save-predictions", str(preds), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "BF" in printed and "Bicyclist" in printed
    assert printed.splitlines()[0] == "segnet_basic at 32x48, fp32, --tta none: one model pass per image"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"global_accuracy", "class_accuracy", "miou", "bf", "per_class"} <= set(metrics)
    # Independent recomputation from the saved label PNGs with scikit-learn.
    truth, pred = [], []
    for label_file in sorted((tiny_camvid / "valannot").iterdir()):
        t = np.array(Image.open(label_file)).ravel()
        p = np.array(Image.open(preds / label_file.name)).ravel()
        keep = t != 11
        truth.append(t[keep])
        pred.append(p[keep])
    truth, pred = np.concatenate(truth), np.concatenate(pred)
    cm = confusion_matrix(truth, pred, labels=list(range(11)))
    assert metrics["global_accuracy"] == pytest.approx(100 * np.trace(cm) / cm.sum(), abs=1e-6)
    present = cm.sum(1) > 0
    recall = np.diag(cm)[present] / cm.sum(1)[present]
    assert metrics["class_accuracy"] == pytest.approx(100 * recall.mean(), abs=1e-6)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    assert metrics["miou"] == pytest.approx(100 * (np.diag(cm)[union > 0] / union[union > 0]).mean(), abs=1e-6)
    # The files beside metrics.json: the same matrix as CSV, a per-class table, a heat map.
    rows = list(csv.reader((out / "confusion.csv").open()))
    assert rows[0][1:] == list(metrics["per_class"]) and [r[0] for r in rows[1:]] == list(metrics["per_class"])
    np.testing.assert_array_equal(np.array([r[1:] for r in rows[1:]], dtype=np.int64), cm)
    per_class = {r["class"]: r for r in csv.DictReader((out / "per_class.csv").open())}
    iou = np.divide(np.diag(cm), union, out=np.full(11, np.nan), where=union > 0)
    for index, name in enumerate(metrics["per_class"]):
        if union[index] > 0:
            assert float(per_class[name]["iou"]) == pytest.approx(100 * iou[index], abs=1e-3)
    assert Image.open(out / "confusion.png").size[0] > 300
    # The same label PNGs scored without the model: the same figures, to the last pixel.
    saved = tmp_path / "saved"
    assert main(["evaluate", "--predictions", str(preds), "--data-root", str(tiny_camvid), "--split", "val",
                 "--output", str(saved), "--no-progress"]) == 0
    rescored = json.loads((saved / "metrics.json").read_text())
    assert rescored["confusion_matrix"] == metrics["confusion_matrix"]
    for key in ("global_accuracy", "class_accuracy", "miou", "bf"):
        assert rescored[key] == pytest.approx(metrics[key], abs=1e-9), key
    # --precision auto is reported as what it resolved to (no calibration here: never int8).
    capsys.readouterr()
    assert main(["evaluate", "--weights", str(run / "best.pt"), "--data-root", str(tiny_camvid), "--split", "val",
                 "--output", str(tmp_path / "auto"), "--precision", "auto", "--tta", "flip", "--limit", "1",
                 "--no-bf", "--no-progress"]) == 0
    ran = json.loads((tmp_path / "auto" / "metrics.json").read_text())["precision"]
    assert ran in ("fp32", "bf16")
    assert capsys.readouterr().out.splitlines()[0] == (f"segnet_basic at 32x48, {ran}, --tta flip: 2 model passes "
                                                       "per image, 2.0x the compute of one (--tta none runs one)")


def test_evaluate_rejects_checkpoint_of_other_class_count(tiny_camvid, tmp_path, capsys):
    import segnet
    from segnet.data import SUNRGBD_CLASSES
    from segnet.engine import atomic_save
    from segnet.checkpoint import make_checkpoint

    ckpt = tmp_path / "sun.pt"
    atomic_save(make_checkpoint(segnet.create_model("segnet_basic", 37), SUNRGBD_CLASSES, (0,) * 3, (1,) * 3, None), ckpt)
    assert main(["evaluate", "--weights", str(ckpt), "--data-root", str(tiny_camvid), "--no-progress"]) == 2
    assert "37 classes, the dataset has 11" in capsys.readouterr().err


def test_two_process_gloo_equals_single_process(tiny_camvid, tmp_path):
    """torchrun with 2 CPU processes (gloo) gives the weights of one process with the same global batch,
    the Lovász term's mean over the global batch's images included."""
    args = ["--data-root", str(tiny_camvid), "--model", "segnet_basic", "--size", "32x48", "--workers", "0",
            "--epochs", "1", "--batch-size", "1", "--val-split", "none", "--no-progress", "--lr", "0.05",
            "--lovasz-weight", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp_run, single_run = tmp_path / "ddp", tmp_path / "single"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "segnet.cli.main", "train", *args, "--run-dir", str(ddp_run)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert main(["train", *args, "--accum-steps", "2", "--run-dir", str(single_run)]) == 0
    ddp, single = weights(ddp_run / "last.pt"), weights(single_run / "last.pt")
    initial = __import__("segnet").create_model("segnet_basic", 11)
    moved = False
    for name, _ in initial.named_parameters():
        assert torch.allclose(ddp[name], single[name], atol=1e-5, rtol=1e-4), name
        moved |= not torch.allclose(ddp[name], initial.state_dict()[name])
    assert moved  # training really changed the weights


@pytest.mark.parametrize("extra, message", [
    (["--paste-classes", "Pedestrian,Rider"], "Rider not in camvid"),
    (["--paste-classes", "Pedestrian", "--paste-prob", "0"], "copy-paste probability must be in (0, 1]"),
])
def test_bad_paste_options_are_one_line_errors(tiny_camvid, tmp_path, capsys, extra, message):
    code = main(["train", "--model", "segnet_basic", "--data-root", str(tiny_camvid), "--size", "32x48",
                 "--workers", "0", "--epochs", "1", "--run-dir", str(tmp_path / "r"), "--no-progress", *extra])
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
