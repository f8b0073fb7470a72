"""Joint transforms: labels stay labels, image/label/depth move together, randomness is seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from segnet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Compose,
    Normalize,
    RandomHorizontalFlip,
    RandomScaleCrop,
    Resize,
    Sample,
    ToTensor,
    eval_transform,
    train_transform,
)

IGNORE = 255


def _sample(rng: np.random.Generator, h: int = 12, w: int = 16, depth: bool = False) -> Sample:
    image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    label = rng.choice(np.array([0, 3, 7]), size=(h, w))
    d = (label / 10.0).astype(np.float32) if depth else None  # depth encodes the label: alignment check
    return Sample.from_arrays(image, label, d)


def _as_np(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    t = ToTensor()(sample)
    return t.image.numpy(), t.label.numpy(), None if t.depth is None else t.depth.numpy()[0]


@pytest.mark.parametrize(
    "transform",
    [Resize(25, 7), Resize(5, 31), RandomScaleCrop((10, 10), (0.3, 3.0), IGNORE), RandomScaleCrop(None)],
)
def test_labels_stay_in_label_set(transform, rng) -> None:
    for _ in range(5):
        _, label, _ = _as_np(transform(_sample(rng), rng))
        assert set(np.unique(label)) <= {0, 3, 7, IGNORE}


def test_resize_output_size_and_nearest_label(rng) -> None:
    s = Resize(24, 32)(_sample(rng), rng)
    assert s.image.size == (32, 24) and s.label.size == (32, 24)
    # Doubling with NEAREST replicates every label pixel into a 2x2 block.
    src = np.asarray(_sample(np.random.default_rng(1)).label)
    out = np.asarray(Resize(24, 32)(_sample(np.random.default_rng(1)), rng).label)
    np.testing.assert_array_equal(out[::2, ::2], src)


def test_flip_moves_image_label_and_depth_together(rng) -> None:
    s = _sample(rng, depth=True)
    img, lab, dep = _as_np(s)
    f_img, f_lab, f_dep = _as_np(RandomHorizontalFlip(p=1.0)(s, rng))
    np.testing.assert_array_equal(f_img, img[:, :, ::-1])
    np.testing.assert_array_equal(f_lab, lab[:, ::-1])
    np.testing.assert_array_equal(f_dep, dep[:, ::-1])
    same = RandomHorizontalFlip(p=0.0)(s, rng)
    assert same is s


def test_scale_crop_keeps_label_and_depth_aligned_and_pads_with_ignore(rng) -> None:
    t = RandomScaleCrop((20, 30), scale=(0.5, 0.6), ignore_index=IGNORE)  # always smaller: padding
    for _ in range(5):
        img, lab, dep = _as_np(t(_sample(rng, depth=True), rng))
        assert img.shape == (3, 20, 30) and lab.shape == (20, 30) and dep.shape == (20, 30)
        pad = lab == IGNORE
        assert pad.any()
        np.testing.assert_array_equal(dep[pad], 0.0)
        np.testing.assert_array_equal(img[:, pad], 0.0)
        np.testing.assert_allclose(dep[~pad] * 10, lab[~pad], atol=1e-5)


def test_scale_crop_with_large_ignore_index_on_8bit_label(rng) -> None:
    s = _sample(rng)
    s.label = s.label.convert("L")
    out = RandomScaleCrop((30, 30), (1.0, 1.0), ignore_index=1000)(s, rng)
    assert set(np.unique(np.asarray(out.label))) <= {0, 3, 7, 1000}


def test_to_tensor_and_normalize_match_manual(rng) -> None:
    s = _sample(rng)
    raw = np.asarray(s.image, dtype=np.float32) / 255.0
    out = Normalize()(ToTensor()(s), rng)
    assert out.image.dtype == torch.float32 and out.image.shape == (3, 12, 16)
    assert out.label.dtype == torch.int64 and out.label.shape == (12, 16)
    expected = (raw - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    np.testing.assert_allclose(out.image.permute(1, 2, 0).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_order_errors_are_explicit(rng) -> None:
    with pytest.raises(TypeError, match="ToTensor"):
        Normalize()(_sample(rng), rng)
    with pytest.raises(TypeError, match="before ToTensor"):
        Resize(4, 4)(ToTensor()(_sample(rng)), rng)


def test_same_generator_seed_gives_same_augmentation(rng) -> None:
    t = train_transform((8, 8), IGNORE)
    s = _sample(rng)
    a = t(s, np.random.default_rng([0, 1, 2]))
    b = t(s, np.random.default_rng([0, 1, 2]))
    c = t(s, np.random.default_rng([0, 2, 2]))
    assert torch.equal(a.image, b.image) and torch.equal(a.label, b.label)
    assert not torch.equal(a.image, c.image)


def test_builders(rng) -> None:
    s = _sample(rng)
    out = train_transform((6, 10), IGNORE, scale_aug=True)(s, rng)
    assert out.image.shape == (3, 6, 10) and out.label.shape == (6, 10)
    out = train_transform((6, 10), IGNORE, scale_aug=False)(s, rng)
    assert out.image.shape == (3, 6, 10)
    out = train_transform(None, IGNORE)(s, rng)
    assert out.image.shape == (3, 12, 16)
    out = eval_transform(None)(s, rng)
    assert out.image.shape == (3, 12, 16)
    np.testing.assert_array_equal(out.label.numpy(), np.asarray(s.label))
    out = eval_transform((24, 32))(Sample(s.image), rng)  # inference: no label
    assert out.image.shape == (3, 24, 32) and out.label is None
    assert "Resize" in repr(eval_transform((2, 2))) and isinstance(eval_transform(), Compose)


# --- ColorJitter: photometric augmentation of the image alone -------------------------------------

def _jitter_sample(seed: int = 0):
    from segnet.data.transforms import Sample

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    label = rng.integers(0, 12, (12, 16))
    return Sample.from_arrays(image, label)


def test_color_jitter_changes_the_image_but_never_the_label():
    from segnet.data.transforms import ColorJitter

    sample = _jitter_sample()
    out = ColorJitter(0.4, 0.4, 0.4, 0.1)(sample, np.random.default_rng(3))
    assert np.array_equal(np.asarray(out.label), np.asarray(sample.label))
    assert not np.array_equal(np.asarray(out.image), np.asarray(sample.image))
    again = ColorJitter(0.4, 0.4, 0.4, 0.1)(sample, np.random.default_rng(3))
    assert np.array_equal(np.asarray(out.image), np.asarray(again.image))  # seeded


def test_color_jitter_of_strength_zero_is_the_identity():
    from segnet.data.transforms import ColorJitter

    sample = _jitter_sample()
    out = ColorJitter(0, 0, 0, 0)(sample, np.random.default_rng(0))
    assert np.array_equal(np.asarray(out.image), np.asarray(sample.image))


def test_color_jitter_brightness_scales_pixels():
    from segnet.data.transforms import ColorJitter

    sample = _jitter_sample()
    rng = np.random.default_rng(5)
    factor = np.random.default_rng(5).uniform(0.5, 1.5)  # the first draw is brightness
    out = ColorJitter(0.5, 0, 0, 0)(sample, rng)
    expected = np.clip(np.asarray(sample.image, dtype=np.float64) * factor, 0, 255)
    assert np.abs(np.asarray(out.image, dtype=np.float64) - expected).max() <= 1.0


def test_hue_shift_matches_colorsys():
    import colorsys

    from segnet.data.transforms import _shift_hue

    colours = np.array([[[200, 40, 40], [40, 200, 40], [40, 40, 200], [180, 160, 30]]], dtype=np.uint8)
    shifted = np.asarray(_shift_hue(Image.fromarray(colours), 0.25), dtype=np.float64)
    for got, rgb in zip(shifted[0], colours[0]):
        h, s, v = colorsys.rgb_to_hsv(*(rgb / 255.0))
        want = np.array(colorsys.hsv_to_rgb((h + 0.25) % 1.0, s, v)) * 255
        assert np.abs(got - want).max() <= 6  # PIL's HSV keeps 8 bits per channel


@pytest.mark.parametrize("kwargs", [{"brightness": 1.0}, {"contrast": -0.1}, {"hue": 0.6}])
def test_color_jitter_refuses_out_of_range_strengths(kwargs):
    from segnet.data.transforms import ColorJitter

    with pytest.raises(ValueError, match="jitter must be"):
        ColorJitter(**kwargs)
