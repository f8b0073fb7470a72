"""The weight EMA (`--ema-decay`): the average a run keeps equals one computed by hand from plain
runs' weights after each step; it leaves training itself alone, resumes exactly, and is what
validation scores."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from segnet.checkpoint import load_model
from segnet.cli.main import main
from segnet.data import build_dataset, eval_transform
from segnet.engine import TrainConfig, read_checkpoint, train
from segnet.engine.evaluate import evaluate_model

DECAY = 0.6  # large steps: every update moves the average visibly


@pytest.fixture()
def root(tiny_camvid) -> Path:
    """conftest's CamVid layout: 8 train frames (4 steps of batch 2 an epoch), 4 val."""
    return tiny_camvid


def _run(root: Path, run_dir: Path, **kw) -> Path:
    settings = {"model": "segnet_basic", "data_root": str(root), "size": (32, 48), "epochs": 1, "batch_size": 2,
                "workers": 0, "run_dir": str(run_dir), "val_split": None, "lr": 0.05, "seed": 4}
    return train(TrainConfig(**(settings | kw)), progress_bar=False)


def _floats(state: dict) -> dict[str, torch.Tensor]:
    return {name: value.float() for name, value in state.items() if value.is_floating_point()}


def test_ema_equals_the_average_of_plain_runs_by_hand(root, tmp_path):
    # Reference: the raw weights after 1 to 4 steps of identical runs without an average.
    raw = [_floats(read_checkpoint(_run(root, tmp_path / f"plain{k}", max_steps=k) / "last.pt")["state_dict"])
           for k in (1, 2, 3, 4)]
    expected = raw[0]  # the first update copies the weights
    for weights in raw[1:]:
        expected = {name: DECAY * expected[name] + (1 - DECAY) * weights[name] for name in expected}
    run = _run(root, tmp_path / "ema", ema_decay=DECAY)  # 8 frames / batch 2 = 4 steps
    averaged = _floats(read_checkpoint(run / "ema.pt")["state_dict"])
    assert set(averaged) == set(expected)
    assert any("running_mean" in name for name in averaged)  # BatchNorm statistics are averaged too
    for name in expected:
        torch.testing.assert_close(averaged[name], expected[name], rtol=1e-4, atol=1e-5, msg=name)
    # The average differs from the last raw weights, and training itself is the plain run's.
    last = _floats(read_checkpoint(run / "last.pt")["state_dict"])
    assert any(not torch.allclose(averaged[n], last[n]) for n in last)
    for name in last:
        torch.testing.assert_close(last[name], raw[-1][name], rtol=1e-4, atol=1e-5, msg=name)


def test_ema_resumes_exactly(root, tmp_path):
    whole = _run(root, tmp_path / "whole", epochs=2, ema_decay=DECAY)
    _run(root, tmp_path / "cut", epochs=2, ema_decay=DECAY, max_steps=6)  # stops inside epoch 2
    resumed = _run(root, tmp_path / "cut", epochs=2, ema_decay=DECAY, resume=True)
    a, b = (_floats(read_checkpoint(r / "ema.pt")["state_dict"]) for r in (whole, resumed))
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)


def test_validation_and_best_use_the_average(root, tmp_path):
    run = _run(root, tmp_path / "val", ema_decay=DECAY, val_split="val", val_samples=0)
    best, ema = read_checkpoint(run / "best.pt"), read_checkpoint(run / "ema.pt")
    for name, value in _floats(ema["state_dict"]).items():
        assert torch.equal(_floats(best["state_dict"])[name], value), name
    val = build_dataset("camvid", root, "val", transform=eval_transform(None))
    scored = evaluate_model(load_model(run / "ema.pt").model, val, (32, 48), torch.device("cpu"), "none", False,
                            compute_bf=False, progress=False)
    logged = float((run / "metrics.csv").read_text().splitlines()[-1].split(",")[-1])
    assert logged == pytest.approx(scored["miou"], abs=1e-3)


def test_resuming_a_run_without_an_average_is_refused(root, tmp_path):
    _run(root, tmp_path / "plain", epochs=2, max_steps=1)
    with pytest.raises(ValueError, match="no weight average to resume"):
        _run(root, tmp_path / "plain", epochs=2, ema_decay=DECAY, resume=True)


@pytest.mark.parametrize("decay", ["1", "-0.1", "nan"])
def test_bad_decay_is_a_one_line_error(root, tmp_path, capsys, decay):
    code = main(["train", "--model", "segnet_basic", "--data-root", str(root), "--run-dir", str(tmp_path / "r"),
                 "--ema-decay", decay, "--no-progress"])
    assert code == 2
    assert "EMA decay must be in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_refresh_bn_and_quantize_drop_the_average_with_the_other_training_state(root, tmp_path):
    last = _run(root, tmp_path / "run", ema_decay=DECAY) / "last.pt"
    assert "ema" in torch.load(last, weights_only=False)
    refreshed, quantized = tmp_path / "bn.pt", tmp_path / "int8.pt"
    assert main(["refresh-bn", "--weights", str(last), "--data-root", str(root), "--split", "train", "--scales", "1",
                 "--batch-size", "2", "--workers", "0", "--output", str(refreshed)]) == 0
    assert main(["quantize", "--weights", str(last), "--data-root", str(root), "--split", "train",
                 "--images", "2", "--check-images", "2", "--output", str(quantized)]) == 0
    for path in (refreshed, quantized):
        data = torch.load(path, weights_only=False)
        assert "ema" not in data and "optimizer" not in data, path
