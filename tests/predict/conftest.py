"""Tiny checkpoints and images for the predict tests, made per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.checkpoint import atomic_save, make_checkpoint
from segnet.data import CAMVID, IMAGENET_MEAN, IMAGENET_STD
from segnet.inference import image_to_tensor

MODEL_SIZE = (32, 40)  # small: the tests share two CPU cores with training


def write_checkpoint(path: Path, model_name: str, seed: int = 0) -> Path:
    """A random model whose BatchNorm statistics are set on a few scenes, so it predicts all classes.

    (Fresh BatchNorm statistics leave one class winning everywhere, too weak for the checks.)
    """
    torch.manual_seed(seed)
    model = segnet.create_model(model_name, CAMVID.num_classes)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # plain average over the calibration pass
    batch = torch.stack([image_to_tensor(scene(*MODEL_SIZE, s), IMAGENET_MEAN, IMAGENET_STD) for s in range(4)])
    model.train()
    with torch.no_grad():
        model(batch)
    model.eval()
    atomic_save(make_checkpoint(model, CAMVID, IMAGENET_MEAN, IMAGENET_STD, MODEL_SIZE), path)
    return path


def scene(height: int, width: int, seed: int) -> np.ndarray:
    """Coloured blocks plus noise: a random model then predicts several classes."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.float64)
    for _ in range(6):
        top, left = rng.integers(0, height - 8), rng.integers(0, width - 8)
        image[top:top + rng.integers(8, height // 2), left:left + rng.integers(8, width // 2)] = rng.integers(0, 256, 3)
    image += rng.normal(0, 20, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def basic_weights(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("weights") / "basic.pt", "segnet_basic")


@pytest.fixture(scope="session")
def bayesian_weights(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("weights") / "bayesian.pt", "bayesian_segnet_basic")


@pytest.fixture(scope="session")
def segmenter(basic_weights):
    return segnet.load(basic_weights)


def _save_image(path: Path, height: int, width: int, seed: int) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scene(height, width, seed)).save(path)
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture
def save_image():
    """``save_image(path, height, width, seed)`` writes a scene and returns it as read back (JPEG is lossy)."""
    return _save_image
