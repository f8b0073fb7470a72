"""`segnet shift-prior`: -alpha log(w_c) added to each class's logit through the classifier's bias."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segnet.checkpoint import load_model
from segnet.cli.main import main
from segnet.engine import TrainConfig, train
from segnet.models import create_model
from segnet.prior import final_classifier, prior_offsets, shift_class_prior


def test_offsets_are_minus_alpha_log_weight_and_zero_for_a_class_never_seen():
    offsets = prior_offsets([4.0, 1.0, 0.25, 0.0], 0.5)
    expected = [-0.5 * math.log(4), 0.0, 0.5 * math.log(4), 0.0]
    assert offsets.dtype == torch.float32
    torch.testing.assert_close(offsets, torch.tensor(expected))
    assert torch.equal(prior_offsets([4.0, 0.5], 0.0), torch.zeros(2))


@pytest.mark.parametrize("alpha, weights, message", [
    (1.5, [1.0], "alpha 1.5"), (-0.1, [1.0], "alpha -0.1"), (float("nan"), [1.0], "alpha nan"),
    (0.5, [1.0, -2.0], "non-negative"), (0.5, [[1.0]], "a list"), (0.5, [float("inf")], "finite"),
])
def test_offsets_refuse_an_alpha_outside_0_1_and_bad_weights(alpha, weights, message):
    with pytest.raises(ValueError, match=message):
        prior_offsets(weights, alpha)


@pytest.mark.parametrize("name, size", [("segnet_basic", (32, 48)), ("segnet", (32, 32)),
                                        ("deeplab_largefov", (40, 56))])
def test_the_shift_adds_the_offsets_to_every_pixels_logits(name, size):
    torch.manual_seed(0)
    model = create_model(name, 5).eval()
    images = torch.randn(2, 3, *size)
    offsets = torch.tensor([0.5, -1.0, 0.0, 2.0, -0.25])
    with torch.no_grad():
        before = model(images)
        shift_class_prior(model, offsets)
        after = model(images)
    torch.testing.assert_close(after - before, offsets.view(1, 5, 1, 1).expand_as(before), rtol=0, atol=2e-5)


def test_a_model_whose_logits_are_not_one_conv_is_refused():
    with torch.device("meta"):
        fcn = create_model("fcn", 11)
    with pytest.raises(ValueError, match="FCN.*no final classifier conv"):
        final_classifier(fcn)
    with pytest.raises(ValueError, match="3 offsets for a classifier of 11 classes"):
        shift_class_prior(create_model("segnet_basic", 11), torch.zeros(3))


def _two_drives(tiny_camvid: Path, root: Path) -> Path:
    """A copy of the tiny CamVid with its train frames in two recordings: seq_000-003 and drive_004-007."""
    shutil.copytree(tiny_camvid, root)
    for folder in ("train", "trainannot"):
        for index in range(4, 8):
            (root / folder / f"seq_{index:03d}.png").rename(root / folder / f"drive_{index:03d}.png")
    return root


def _expected_offsets(label_files: list[Path], alpha: float, num_classes: int = 11) -> torch.Tensor:
    """Median frequency balancing by hand: freq_c = pixels of c / pixels of the images holding c."""
    class_pixels, image_pixels = np.zeros(num_classes), np.zeros(num_classes)
    for path in label_files:
        label = np.asarray(Image.open(path))
        label = label[label != 11]
        counts = np.bincount(label, minlength=num_classes)[:num_classes]
        class_pixels += counts
        image_pixels[counts > 0] += counts.sum()
    seen = class_pixels > 0
    frequency = class_pixels[seen] / image_pixels[seen]
    offsets = np.zeros(num_classes)
    offsets[seen] = -alpha * np.log(np.median(frequency) / frequency)
    return torch.tensor(offsets, dtype=torch.float32)


def test_cli_shifts_the_bias_by_the_runs_own_class_weights(tiny_camvid, tmp_path, capsys):
    root = _two_drives(tiny_camvid, tmp_path / "camvid")
    run = tmp_path / "run"
    train(TrainConfig(model="segnet_basic", data_root=str(root), size=(48, 64), epochs=1, batch_size=4, workers=0,
                      run_dir=str(run), val_split=None, holdout="drive"), progress_bar=False)
    shifted = tmp_path / "shifted.pt"
    # The split and the held-out recording come from the checkpoint's own config: train minus drive_*.
    code = main(["shift-prior", "--weights", str(run / "last.pt"), "--alpha", "0.5", "--data-root", str(root),
                 "--output", str(shifted)])
    assert code == 0
    assert "class weights of 4 train minus drive frames" in capsys.readouterr().out
    old, new = torch.load(run / "last.pt", weights_only=False), torch.load(shifted, weights_only=False)
    expected = _expected_offsets(sorted((root / "trainannot").glob("seq_*.png")), 0.5)
    torch.testing.assert_close(new["state_dict"]["classifier.bias"] - old["state_dict"]["classifier.bias"], expected)
    for key, value in old["state_dict"].items():
        assert key == "classifier.bias" or torch.equal(value, new["state_dict"][key]), key
    assert "optimizer" not in new and "int8_ranges" not in new
    assert new["prior_shift"]["alpha"] == 0.5 and new["prior_shift"]["holdout"] == ["drive"]
    torch.testing.assert_close(torch.tensor(new["prior_shift"]["offsets"]), expected)
    assert load_model(shifted).size == (48, 64)

    # Given on the command line, the split and the held-out recordings win over the checkpoint's.
    both = tmp_path / "both.pt"
    assert main(["shift-prior", "--weights", str(run / "last.pt"), "--alpha", "1", "--data-root", str(root),
                 "--split", "train+val", "--holdout", "", "--output", str(both)]) == 0
    every = sorted((root / "trainannot").glob("*.png")) + sorted((root / "valannot").glob("*.png"))
    bias = torch.load(both, weights_only=False)["state_dict"]["classifier.bias"]
    torch.testing.assert_close(bias - old["state_dict"]["classifier.bias"], _expected_offsets(every, 1.0))

    # Twice is refused (shift the original instead), and so is a run trained without weights.
    assert main(["shift-prior", "--weights", str(shifted), "--alpha", "0.5", "--data-root", str(root),
                 "--output", str(tmp_path / "again.pt")]) == 2
    assert "already shifted (alpha 0.5)" in capsys.readouterr().err

    # Training on from a shifted checkpoint says how to continue it as trained.
    train(TrainConfig(model="segnet_basic", data_root=str(root), size=(48, 64), epochs=1, batch_size=4, workers=0,
                      run_dir=str(tmp_path / "on"), val_split=None, max_steps=1, init_weights=str(shifted)),
          progress_bar=False)
    assert f"{shifted} has its class prior shifted (alpha 0.5); to continue it as trained" in capsys.readouterr().err

    # --undo gives back the model as trained (to continue training it), and needs a shift to undo.
    undone = tmp_path / "undone.pt"
    assert main(["shift-prior", "--weights", str(shifted), "--undo", "--output", str(undone)]) == 0
    back = torch.load(undone, weights_only=False)
    assert "prior_shift" not in back
    for key, value in old["state_dict"].items():
        torch.testing.assert_close(back["state_dict"][key], value, rtol=0, atol=1e-6)
    assert main(["shift-prior", "--weights", str(undone), "--undo", "--output", str(tmp_path / "twice.pt")]) == 2
    assert "never shifted; there is nothing to undo" in capsys.readouterr().err
    unweighted = torch.load(run / "last.pt", weights_only=False)
    unweighted["config"]["class_weights"] = "none"
    torch.save(unweighted, tmp_path / "unweighted.pt")
    assert main(["shift-prior", "--weights", str(tmp_path / "unweighted.pt"), "--alpha", "0.5",
                 "--data-root", str(root), "--output", str(tmp_path / "x.pt")]) == 2
    assert "trained without class weights" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("again.pt", "x.pt", "twice.pt"))


@pytest.mark.parametrize("options, message", [
    (["--alpha", "2"], "--alpha: '2' is not a number from 0"),
    (["--alpha", "0.3", "--undo"], "not allowed with argument"),
    ([], "one of the arguments --alpha --undo is required"),
])
def test_cli_refuses_a_bad_alpha_or_option_pair_before_reading_anything(options, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["shift-prior", "--weights", "missing.pt", *options])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_the_shift_is_recorded_through_evaluate_and_an_onnx_export(tiny_camvid, tmp_path):
    pytest.importorskip("onnxruntime")
    from segnet.export import checkpoint_metadata, export_onnx
    from segnet.runtimes import load_exported

    run = tmp_path / "run"
    train(TrainConfig(model="segnet_basic", data_root=str(tiny_camvid), size=(48, 64), epochs=1, batch_size=4,
                      workers=0, run_dir=str(run), val_split=None, max_steps=1), progress_bar=False)
    shifted = tmp_path / "shifted.pt"
    assert main(["shift-prior", "--weights", str(run / "last.pt"), "--alpha", "0.25", "--data-root",
                 str(tiny_camvid), "--output", str(shifted)]) == 0
    assert load_model(run / "last.pt").prior_shift_alpha is None
    loaded = load_model(shifted)
    assert loaded.prior_shift_alpha == 0.25
    recorded = torch.load(shifted, map_location="cpu", weights_only=False)["prior_shift"]
    torch.testing.assert_close(torch.tensor(loaded.prior_offsets), prior_offsets(recorded["class_weights"], 0.25))

    onnx_path = export_onnx(loaded.model, tmp_path / "shifted.onnx", (48, 64), metadata=checkpoint_metadata(loaded))
    assert load_exported(onnx_path).prior_shift_alpha == 0.25
    assert load_exported(onnx_path).prior_offsets == loaded.prior_offsets  # a CRF after the export can use them

    out = tmp_path / "eval"
    assert main(["evaluate", "--weights", str(shifted), "--data-root", str(tiny_camvid), "--split", "val",
                 "--no-progress", "--no-bf", "--sample-images", "0", "--output", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["prior_shift_alpha"] == 0.25
