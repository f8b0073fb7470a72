"""What a run shows a user: the start header, the resume line, validation samples, TensorBoard,
runs repeated from a config file, and evaluate's sample pictures."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from segnet.cli.main import main
from segnet.engine.samples import error_map
from segnet.spacing import evenly_spaced
from segnet.data import CAMVID_CLASSES

from test_train_cli import train_args, weights  # the same tiny run settings (tests/engine is on sys.path)


def test_header_resume_line_and_validation_samples(tiny_camvid, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(tiny_camvid, run, "--epochs", "2", "--max-steps", "5", "--val-samples", "3")) == 0
    out = capsys.readouterr().out
    assert "segnet train: segnet_basic (" in out and "M parameters) on camvid, 11 classes" in out
    assert "8 training frames (train), 4 validation frames (val); working size 32x48" in out
    assert "class weights (median frequency): Sky " in out
    assert "device cpu, float32" in out and "batch 2, 4 steps/epoch, 2 epochs" in out
    panel = np.asarray(Image.open(run / "samples" / "epoch_0001.png"))
    width, height = Image.open(next((tiny_camvid / "valannot").iterdir())).size
    # three rows of [image | truth | prediction | errors] at the labels' own size, halved
    assert panel.shape == (3 * height // 2, 4 * width // 2, 3)
    assert main(["train", "--run-dir", str(run), "--resume", "--max-steps", "1000", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"resuming {run / 'last.pt'} from epoch 2/2 at step 1/4 (optimiser step 5)" in out
    assert (run / "samples" / "epoch_0002.png").is_file()


def test_tensorboard_log_holds_the_metrics_rows(tiny_camvid, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert main(train_args(tiny_camvid, run, "--epochs", "2", "--tensorboard")) == 0
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    losses = [float(row.split(",")[3]) for row in rows]
    logged = [event.value for event in events.Scalars("train/loss")]
    assert logged == pytest.approx(losses, rel=1e-5)
    assert [event.step for event in events.Scalars("val/miou")] == [4, 8]
    assert "val/samples" in events.Tags()["images"]


def test_config_file_repeats_a_run_and_the_command_line_overrides_it(tiny_camvid, tmp_path):
    first = tmp_path / "first"
    assert main(train_args(tiny_camvid, first, "--epochs", "1", "--max-steps", "3", "--seed", "3")) == 0
    again = tmp_path / "again"
    assert main(["train", "--config", str(first / "config.json"), "--run-dir", str(again), "--no-progress"]) == 0
    a, b = weights(first / "last.pt"), weights(again / "last.pt")
    assert all(torch.equal(a[key], b[key]) for key in a)  # the same run, from its file
    saved = json.loads((again / "config.json").read_text())
    assert saved["run_dir"] == str(again) and saved["seed"] == 3

    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text(f"model: segnet_basic\ndata_root: {tiny_camvid}\nsize: 32x48\nbatch-size: 2\n"
                         "workers: 0\nepochs: 1\nmax_steps: 1\nlr: 0.05\n")
    third = tmp_path / "third"
    assert main(["train", "--config", str(yaml_file), "--run-dir", str(third), "--lr", "0.01", "--no-progress"]) == 0
    saved = json.loads((third / "config.json").read_text())
    assert saved["lr"] == 0.01 and saved["size"] == [32, 48] and saved["batch_size"] == 2


@pytest.mark.parametrize("text, message", [
    ("epochs: 1\nlearning_rate: 0.1\n", "unknown key(s) learning_rate"),
    ("- a\n- b\n", "expected a mapping"),
    ("epochs: [oops\n", "not readable as YAML or JSON"),
    ("epochs: many\n", "wrong type"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code = main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(path) in err and message in err
    assert not (tmp_path / "run").exists()


def test_evaluate_writes_sample_pictures(tiny_camvid, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_args(tiny_camvid, run, "--epochs", "1", "--max-steps", "1", "--val-samples", "0")) == 0
    assert not (run / "samples").exists()
    out_dir = tmp_path / "eval"
    assert main(["evaluate", "--weights", str(run / "last.pt"), "--data-root", str(tiny_camvid), "--no-bf",
                 "--output", str(out_dir), "--sample-images", "2", "--save-predictions", str(tmp_path / "pred"),
                 "--no-progress"]) == 0
    pictures = sorted((out_dir / "samples").glob("*.png"))
    assert len(pictures) == 2
    row = np.asarray(Image.open(pictures[0]))
    stem = pictures[0].stem
    prediction = np.asarray(Image.open(tmp_path / "pred" / f"{stem}.png"))
    height, width = prediction.shape
    assert row.shape == (height, 4 * width, 3)
    np.testing.assert_array_equal(row[:, 2 * width:3 * width], CAMVID_CLASSES.colorize(prediction))


def test_error_map_and_even_spacing_by_hand():
    image = np.full((1, 4, 3), 100, np.uint8)
    label = np.array([[0, 1, 2, 11]])
    prediction = np.array([[0, 2, 2, 5]])
    out = error_map(image, label, prediction, ignore_index=11)
    assert out[0, 0].tolist() == [35, 35, 35] and out[0, 2].tolist() == [35, 35, 35]  # right: darkened photo
    assert out[0, 1].tolist() == [255, 0, 0]  # wrong: red
    assert out[0, 3].tolist() == [0, 0, 0]  # unlabelled: black, whatever the prediction
    assert evenly_spaced(3, 101) == [0, 50, 100]
    assert evenly_spaced(5, 3) == [0, 1, 2] and evenly_spaced(0, 10) == [] and evenly_spaced(1, 9) == [4]


@pytest.mark.parametrize("native", [True, False])
def test_header_warns_when_bf16_is_emulated_on_the_cpu(monkeypatch, native):
    import segnet.optimize as optimize
    from segnet.engine.config import TrainConfig
    from segnet.engine.header import run_header
    from segnet.models import create_model

    monkeypatch.setattr(optimize, "cpu_has_fast_bf16", lambda: native)
    cfg = TrainConfig(model="segnet_basic", amp="bf16", run_dir="runs/x")
    lines = run_header(cfg, create_model("segnet_basic", 11), CAMVID_CLASSES, 8, None, None, 4, 1,
                       torch.device("cpu"))
    assert any("bf16 autocast" in line for line in lines)
    assert any("emulated" in line and "--amp none" in line for line in lines) == (not native)
