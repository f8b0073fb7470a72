"""`segnet evaluate --predictions`: saved label PNGs are scored as they are, or refused in one line."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from segnet.cli.main import main


def _evaluate(root, predictions, out, *extra) -> int:
    return main(["evaluate", "--predictions", str(predictions), "--data-root", str(root), "--split", "val",
                 "--output", str(out), "--no-progress", "--sample-images", "0", *extra])


def _ground_truth_as_predictions(root, folder):
    """The val labels themselves, void (11) turned into class 0: a prediction whose scores are known."""
    folder.mkdir(parents=True)
    for label_file in sorted((root / "valannot").iterdir()):
        labels = np.array(Image.open(label_file))
        Image.fromarray(np.where(labels == 11, 0, labels).astype(np.uint8)).save(folder / label_file.name)
    return folder


def test_the_ground_truth_scores_100_and_predict_s_layout_is_found(tiny_camvid, tmp_path):
    # `segnet predict --output DIR` writes DIR/labels/<stem>.png beside color/ and overlay/.
    predictions = _ground_truth_as_predictions(tiny_camvid, tmp_path / "predict" / "labels")
    (tmp_path / "predict" / "color").mkdir()
    assert _evaluate(tiny_camvid, tmp_path / "predict", tmp_path / "out") == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["global_accuracy"] == 100 and metrics["class_accuracy"] == 100 and metrics["miou"] == 100
    assert metrics["bf"] == pytest.approx(100)
    assert metrics["num_images"] == 4 and metrics["predictions"] == str(tmp_path / "predict")
    assert "model" not in metrics  # nothing ran


def test_limit_scores_the_first_frames_only(tiny_camvid, tmp_path):
    predictions = _ground_truth_as_predictions(tiny_camvid, tmp_path / "p")
    for later in sorted(predictions.iterdir())[2:]:
        later.unlink()  # frames past the limit need no prediction
    assert _evaluate(tiny_camvid, predictions, tmp_path / "out", "--limit", "2") == 0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["num_images"] == 2


def test_one_wrong_pixel_class_costs_what_it_should(tiny_camvid, tmp_path):
    predictions = _ground_truth_as_predictions(tiny_camvid, tmp_path / "p")
    first = sorted(predictions.iterdir())[0]
    labels = np.array(Image.open(first))
    truth = np.array(Image.open(tiny_camvid / "valannot" / first.name))
    y, x = np.argwhere(truth != 11)[0]
    labels[y, x] = (truth[y, x] + 1) % 11
    Image.fromarray(labels).save(first)
    assert _evaluate(tiny_camvid, predictions, tmp_path / "out", "--no-bf") == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    counted = sum(int((np.array(Image.open(f)) != 11).sum()) for f in (tiny_camvid / "valannot").iterdir())
    assert metrics["global_accuracy"] == pytest.approx(100 * (counted - 1) / counted)
    assert metrics["bf"] is None


@pytest.mark.parametrize(("spoil", "message"), [
    ("missing", r"seq_001\.png: no prediction for this frame"),
    ("size", r"seq_001\.png: 32x24 px, its ground truth is 64x48"),
    ("rgb", r"seq_001\.png: a RGB image; predicted labels are one-channel"),
    ("class", r"seq_001\.png: holds class index 11, the dataset has 11 classes"),
])
def test_a_bad_prediction_file_is_one_line_naming_it(tiny_camvid, tmp_path, capsys, spoil, message):
    predictions = _ground_truth_as_predictions(tiny_camvid, tmp_path / "p")
    target = predictions / "seq_001.png"
    if spoil == "missing":
        target.unlink()
    elif spoil == "size":
        Image.fromarray(np.zeros((24, 32), np.uint8)).save(target)
    elif spoil == "rgb":
        Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(target)
    else:
        Image.fromarray(np.full((48, 64), 11, np.uint8)).save(target)
    assert _evaluate(tiny_camvid, predictions, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_options_that_run_a_model_are_refused(tiny_camvid, tmp_path, capsys):
    predictions = _ground_truth_as_predictions(tiny_camvid, tmp_path / "p")
    assert _evaluate(tiny_camvid, predictions, tmp_path / "out", "--weights", "camvid") == 2
    assert "--weights does not apply" in capsys.readouterr().err
    shutil.rmtree(predictions)
    assert _evaluate(tiny_camvid, predictions, tmp_path / "out") == 2
    assert "no such folder of predicted label PNGs" in capsys.readouterr().err


def test_a_negative_limit_is_refused(tiny_camvid, tmp_path, capsys):
    predictions = _ground_truth_as_predictions(tiny_camvid, tmp_path / "p")
    assert _evaluate(tiny_camvid, predictions, tmp_path / "out", "--limit", "-1") == 2
    assert "--limit -1: give a positive number of frames (0 = all)" in capsys.readouterr().err


def test_only_the_sample_frames_images_are_read(tiny_camvid, tmp_path, monkeypatch):
    """Frames outside ``images_for`` are scored from their labels alone, to the same figures."""
    from segnet.data import build_dataset, eval_transform
    from segnet.engine import evaluate_predictions

    predictions = _ground_truth_as_predictions(tiny_camvid, tmp_path / "p")
    first = sorted(predictions.iterdir())[0]
    labels = np.array(Image.open(first))
    labels[:3, :5] = (labels[:3, :5] + 1) % 11
    Image.fromarray(labels).save(first)
    dataset = build_dataset("camvid", tiny_camvid, "val", eval_transform(None), 0)
    reads = []
    read_item = type(dataset).__getitem__
    monkeypatch.setattr(type(dataset), "__getitem__", lambda self, index: reads.append(index) or read_item(self, index))
    seen = []
    partial = evaluate_predictions(dataset, predictions, progress=False, images_for={1},
                                   on_prediction=lambda index, image, label, _: seen.append((index, image, label)))
    assert reads == [1] and [index for index, *_ in seen] == [1]
    assert seen[0][1].shape[1:] == seen[0][2].shape  # the image came with its label
    reads.clear()
    every = evaluate_predictions(dataset, predictions, progress=False, on_prediction=lambda *_: None)
    assert reads == [0, 1, 2, 3]
    assert partial["confusion_matrix"] == every["confusion_matrix"] and partial["miou"] == every["miou"] < 100
    assert partial["bf"] == every["bf"]
