"""A few SGD steps on real CamVid frames at a small size make the loss fall."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.data import CamVid, cached_median_frequency_weights, eval_transform
from segnet.engine.loss import loss_normalizer, summed_cross_entropy

ROOT = Path(os.environ.get("SEGNET_CAMVID", Path(__file__).resolve().parents[2] / ".." / "shared" / "camvid"))


def _median_frequency_by_hand(folder: Path) -> np.ndarray:
    """The paper's balancing straight from the label PNGs: freq(c) = pixels of c / pixels of the
    images where c appears (void 11 left out), weight = median(freq) / freq."""
    pixels, totals = np.zeros(11), np.zeros(11)
    for path in sorted(folder.glob("*.png")):
        label = np.asarray(Image.open(path))
        counts = np.bincount(label[label < 11].ravel(), minlength=11)[:11]
        pixels += counts
        totals += np.where(counts > 0, counts.sum(), 0)
    freq = pixels / totals
    return np.median(freq) / freq


@pytest.mark.skipif(not (ROOT / "train").is_dir(), reason=f"CamVid not found at {ROOT} (set SEGNET_CAMVID)")
def test_loss_falls_on_camvid(tmp_path):
    torch.manual_seed(0)
    dataset = CamVid(ROOT, "train", transform=eval_transform((72, 96)))
    weights = cached_median_frequency_weights(CamVid(ROOT, "train"), tmp_path)
    assert weights.shape == (11,) and weights[3] < 1 < weights[10]  # road common, bicyclist rare
    np.testing.assert_allclose(weights.numpy(), _median_frequency_by_hand(ROOT / "trainannot"), rtol=1e-5)
    images, labels = zip(*(dataset[i] for i in range(0, 40, 10)))
    images, labels = torch.stack(images), torch.stack(labels)
    model = segnet.create_model("segnet_basic", 11).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for _ in range(12):
        optimizer.zero_grad()
        loss = summed_cross_entropy(model(images), labels, weights, 11) / loss_normalizer(labels, weights, 11)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
