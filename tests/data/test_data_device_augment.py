"""Augmenting on the device: the same draws as the PIL transforms, PIL's colour formulas, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

from segnet.data import CamVid
from segnet.data.device_augment import DeviceAugmenter, _blend, _luma, _shift_hue
from segnet.data.transforms import Compose, Normalize, RandomHorizontalFlip, ToTensor
from segnet.data.transforms import _shift_hue as pil_shift_hue

IGNORE = 11


def test_every_frame_gets_the_draws_of_the_cpu_transforms(tmp_path, block_camvid, augment_pipeline):
    frames = block_camvid(tmp_path, [(48, 64), (60, 80), (48, 64), (36, 48)])
    dataset = CamVid(frames, "train", augment_pipeline(), seed=3)
    augmenter = DeviceAugmenter(dataset, "cpu", threads=2)
    padded_seen = 0
    for epoch in range(6):
        for index in range(len(dataset)):
            cpu_image, cpu_label = dataset[(epoch, index)]
            image, label = augmenter.augment(index, epoch)
            assert image.shape == cpu_image.shape == (3, 40, 56) and label.dtype == torch.int64
            # Labels are exact; the image differs only by colour rounding and the
            # antialiasing filter (a wrong crop, scale or flip would miss by whole blocks).
            assert torch.equal(label, cpu_label), (epoch, index)
            assert (image - cpu_image).abs().mean() < 0.06, (epoch, index)
            padded_seen += int((cpu_label == IGNORE).any())
    assert padded_seen > 0  # scales below 0.83 leave padding: its ignore label was compared too


def test_batches_stack_items_in_order_and_drop_a_short_last_batch(tmp_path, block_camvid, augment_pipeline):
    dataset = CamVid(block_camvid(tmp_path, [(48, 64)] * 5), "train", augment_pipeline(), seed=0)
    augmenter = DeviceAugmenter(dataset, "cpu")
    items = [(2, i) for i in (4, 0, 3, 1, 2)]
    batches = list(augmenter.batches(iter(items), batch_size=2))
    assert len(batches) == 2 and batches[0][0].shape == (2, 3, 40, 56) and batches[1][1].shape == (2, 40, 56)
    for position, (epoch, index) in enumerate(items[:4]):
        image, label = augmenter.augment(index, epoch)
        assert torch.equal(batches[position // 2][0][position % 2], image)
        assert torch.equal(batches[position // 2][1][position % 2], label)


def _random_rgb(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8))


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)


@pytest.mark.parametrize("turn", [0.03, -0.04, 0.25])
def test_hue_turn_matches_pil(turn):
    image = _random_rgb(1)
    expected = _tensor(pil_shift_hue(image, turn))
    got = _shift_hue(_tensor(image), (int(round(turn * 256)) % 256) / 256)
    difference = (got - expected).abs()
    # PIL keeps hue, saturation and value in 8 bits each; the float round trip does not.
    assert difference.mean() < 2 / 255 and torch.quantile(difference.flatten(), 0.99) < 8 / 255


@pytest.mark.parametrize("factor", [0.8, 1.2])
def test_brightness_contrast_and_saturation_follow_pil_enhancers(factor):
    image = _random_rgb(2)
    x = _tensor(image)
    ours = {
        ImageEnhance.Brightness: (x * factor).clamp(0, 1),
        ImageEnhance.Contrast: _blend(_luma(x).mean(), x, factor).clamp(0, 1),
        ImageEnhance.Color: _blend(_luma(x)[None], x, factor).clamp(0, 1),
    }
    for enhancer, got in ours.items():
        expected = _tensor(enhancer(image).enhance(factor))
        assert (got - expected).abs().max() < 2.5 / 255, enhancer.__name__


def test_a_transform_it_cannot_run_is_named(tmp_path, block_camvid):
    class Blur:
        def __call__(self, sample, rng):
            return sample

        def __repr__(self) -> str:
            return "Blur()"

    dataset = CamVid(block_camvid(tmp_path, [(48, 64)]), "train", Compose([Blur(), ToTensor()]))
    with pytest.raises(ValueError, match=r"does not support Blur\(\)"):
        DeviceAugmenter(dataset, "cpu")


def test_frames_of_several_sizes_need_a_working_size(tmp_path, block_camvid):
    root = block_camvid(tmp_path, [(48, 64), (36, 48)])
    dataset = CamVid(root, "train", Compose([RandomHorizontalFlip(), ToTensor(), Normalize()]))
    with pytest.raises(ValueError, match=r"one size .*36x48, 48x64; give --size"):
        DeviceAugmenter(dataset, "cpu")
