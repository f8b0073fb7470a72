"""`segnet quantize` end to end, and int8 through evaluate, predict and Segmenter.

Pinned: quantize writes a calibrated copy (input checkpoint untouched) that load_model reads back
with its ranges; evaluate runs it in int8 with scores close to float32; int8 on an uncalibrated
checkpoint and --images 0 are one-line errors (exit 2); auto picks int8 on an x86 CPU.
"""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.checkpoint import atomic_save, load_model, make_checkpoint
from segnet.cli.main import main
from segnet.data import CAMVID, IMAGENET_MEAN, IMAGENET_STD
from segnet.inference import Segmenter, image_to_tensor
from segnet.optimize import int8_kernels_available

pytestmark = pytest.mark.skipif(not int8_kernels_available(),
                                reason="this torch build has no oneDNN int8 conv (x86 CPU builds do)")

HEIGHT, WIDTH = 64, 96
MODEL_SIZE = (48, 64)


def scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of every class (0..10, 11 = void) with a colour per class plus noise."""
    label = np.full((HEIGHT, WIDTH), 3, dtype=np.uint8)
    for cls in rng.permutation(12):
        top, left = int(rng.integers(0, HEIGHT - 12)), int(rng.integers(0, WIDTH - 16))
        label[top:top + int(rng.integers(8, 24)), left:left + int(rng.integers(10, 32))] = cls
    palette = np.random.default_rng(0).integers(0, 256, (12, 3))
    image = palette[label] + rng.normal(0, 15, (HEIGHT, WIDTH, 3))
    return np.clip(image, 0, 255).astype(np.uint8), label


@pytest.fixture(scope="module")
def camvid(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("camvid")
    rng = np.random.default_rng(1)
    for split, count in {"train": 4, "val": 3}.items():
        (root / split).mkdir()
        (root / f"{split}annot").mkdir()
        for i in range(count):
            image, label = scene(rng)
            Image.fromarray(image).save(root / split / f"seq_{i:03d}.png")
            Image.fromarray(label).save(root / f"{split}annot" / f"seq_{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory, camvid) -> Path:
    """A random SegNet-Basic whose BatchNorm statistics come from the training images."""
    torch.manual_seed(0)
    model = segnet.create_model("segnet_basic", CAMVID.num_classes)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the one pass
    batch = torch.stack([image_to_tensor(Image.open(p).convert("RGB"), IMAGENET_MEAN, IMAGENET_STD)
                         for p in sorted((camvid / "train").glob("*.png"))])
    model.train()
    with torch.no_grad():
        model(torch.nn.functional.interpolate(batch, size=MODEL_SIZE, mode="bilinear", align_corners=False))
    model.eval()
    path = tmp_path_factory.mktemp("weights") / "basic.pt"
    atomic_save(make_checkpoint(model, CAMVID, IMAGENET_MEAN, IMAGENET_STD, MODEL_SIZE), path)
    return path


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, camvid, weights) -> tuple[Path, str]:
    """Runs `segnet quantize` once: (calibrated checkpoint, stdout)."""
    before = weights.read_bytes()
    output = tmp_path_factory.mktemp("quantized") / "basic_int8.pt"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):  # capsys is per test, this fixture per module
        status = main(["quantize", "--weights", str(weights), "--data-root", str(camvid), "--images", "3",
                       "--check-images", "2", "--output", str(output)])
    assert status == 0, stdout.getvalue()
    assert weights.read_bytes() == before  # the input checkpoint is not rewritten
    return output, stdout.getvalue()


def test_quantize_writes_a_calibrated_copy(quantized, weights):
    output, stdout = quantized
    assert "calibrated 10 activation ranges on 3 train image(s)" in stdout
    line = next(line for line in stdout.splitlines() if "argmax agreement" in line)
    assert "on 2 val image(s)" in line
    agreement = float(line.rsplit(":", 1)[1].strip().rstrip("%"))
    # A random model is fragile in int8 (its decoder amplifies the pooling positions that
    # quantisation ties flip): ~71% measured, chance is ~9%.
    assert 50.0 < agreement <= 100.0, line
    loaded, original = load_model(output), load_model(weights)
    assert original.int8_ranges is None
    assert loaded.int8_ranges is not None and "input" in loaded.int8_ranges and len(loaded.int8_ranges) == 10
    assert all(low <= high for low, high in loaded.int8_ranges.values())
    assert loaded.size == MODEL_SIZE and loaded.classes.names == original.classes.names
    theirs = original.model.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in loaded.model.state_dict().items())  # weights unchanged


def test_evaluate_in_int8_scores_like_float32(quantized, camvid, tmp_path, capsys):
    output, _ = quantized
    scores = {}
    for precision in ("int8", "fp32"):
        status = main(["evaluate", "--weights", str(output), "--data-root", str(camvid), "--precision", precision,
                       "--no-progress", "--output", str(tmp_path / precision)])
        assert status == 0, capsys.readouterr().err
        scores[precision] = json.loads((tmp_path / precision / "metrics.json").read_text())
    int8, fp32 = scores["int8"], scores["fp32"]
    for key in ("global_accuracy", "miou"):
        assert abs(int8[key] - fp32[key]) < 5, (key, int8[key], fp32[key])


def test_evaluate_no_optimize_refuses_another_precision(quantized, camvid, tmp_path, capsys):
    output, _ = quantized
    status = main(["evaluate", "--weights", str(output), "--data-root", str(camvid), "--no-optimize",
                   "--precision", "int8", "--no-progress", "--output", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "--no-optimize" in err and "int8" in err
    assert not (tmp_path / "x").exists()


def test_predict_int8_on_an_uncalibrated_checkpoint_is_a_one_line_error(weights, camvid, tmp_path, capsys):
    image = sorted((camvid / "val").glob("*.png"))[0]
    status = main(["predict", str(image), "--weights", str(weights), "--precision", "int8", "--no-progress",
                   "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "segnet quantize" in lines[0], err


def test_predict_int8_on_a_calibrated_checkpoint(quantized, camvid, tmp_path, capsys):
    output, _ = quantized
    image = sorted((camvid / "val").glob("*.png"))[0]
    status = main(["predict", str(image), "--weights", str(output), "--precision", "int8", "--no-progress",
                   "--output", str(tmp_path / "out")])
    assert status == 0, capsys.readouterr().err
    labels = np.asarray(Image.open(tmp_path / "out" / "labels" / f"{image.stem}.png"))
    assert labels.shape == (HEIGHT, WIDTH) and labels.max() < 11


@pytest.mark.parametrize("count", ["0", "-1"])
def test_quantize_needs_an_image(weights, camvid, tmp_path, capsys, count):
    output = tmp_path / "never.pt"
    status = main(["quantize", "--weights", str(weights), "--data-root", str(camvid), "--images", count,
                   "--output", str(output)])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "--images" in err, err
    assert not output.exists()


@pytest.mark.skipif(not int8_kernels_available(), reason="this torch build has no oneDNN int8 conv")
def test_segmenter_auto_picks_int8_for_a_calibrated_checkpoint(quantized, weights, camvid):
    output, _ = quantized
    segmenter = Segmenter.load(output, precision="auto")
    assert segmenter.precision == "int8"
    assert Segmenter.load(weights, precision="auto").precision != "int8"
    image = Image.open(sorted((camvid / "val").glob("*.png"))[0])
    reference = Segmenter.load(output, precision="fp32").label(image)
    labels = segmenter.label(image)
    assert labels.shape == (HEIGHT, WIDTH)
    assert (labels == reference).mean() > 0.65  # ~74% measured, see above
