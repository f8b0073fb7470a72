"""RandomScaleCrop and the training pipeline against windows computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segnet.data.transforms import RandomScaleCrop, Sample, train_transform

IGNORE = 255


def _coded(height: int, width: int) -> Sample:
    """Every label pixel is distinct (row * width + column, < 255), so a crop shows where it came from."""
    codes = np.arange(height * width, dtype=np.uint8).reshape(height, width)
    image = np.stack([codes, codes, codes], axis=-1)
    return Sample(Image.fromarray(image), Image.fromarray(codes), None)


def test_crop_window_is_the_drawn_offset_on_a_non_square_image():
    height, width, crop = 10, 14, (4, 6)
    for seed in range(20):
        out = RandomScaleCrop(crop, scale=(1.0, 1.0), ignore_index=IGNORE)(_coded(height, width),
                                                                           np.random.default_rng(seed))
        rng = np.random.default_rng(seed)  # the same draws, by hand: scale, then x, then y
        rng.uniform(1.0, 1.0)
        x = int(rng.integers(0, width - crop[1] + 1))
        y = int(rng.integers(0, height - crop[0] + 1))
        codes = np.arange(height * width).reshape(height, width)
        np.testing.assert_array_equal(np.asarray(out.label), codes[y:y + crop[0], x:x + crop[1]])
        assert out.image.size == (crop[1], crop[0])


def test_every_offset_is_reachable_including_the_last():
    height, width, crop = 6, 9, (4, 5)
    seen_x, seen_y = set(), set()
    for seed in range(300):
        out = RandomScaleCrop(crop, scale=(1.0, 1.0), ignore_index=IGNORE)(_coded(height, width),
                                                                           np.random.default_rng(seed))
        first = int(np.asarray(out.label)[0, 0])
        seen_y.add(first // width)
        seen_x.add(first % width)
    assert seen_x == set(range(width - crop[1] + 1))
    assert seen_y == set(range(height - crop[0] + 1))


def test_scaled_size_is_rounded_not_truncated():
    # 6 x 14 scaled by 1.25 is 7.5 x 17.5: rounded 8 x 18 (PIL-independent), truncated 7 x 17.
    # A crop of exactly 8 x 18 then needs no padding (no ignore pixels) only if the size was rounded.
    out = RandomScaleCrop((8, 18), scale=(1.25, 1.25), ignore_index=IGNORE)(_coded(6, 14), np.random.default_rng(0))
    assert IGNORE not in np.asarray(out.label)
    larger = RandomScaleCrop((9, 18), scale=(1.25, 1.25), ignore_index=IGNORE)(_coded(6, 14), np.random.default_rng(0))
    assert (np.asarray(larger.label) == IGNORE).sum() == 18  # one padded row of ignore, nothing else


def test_default_scale_range_is_half_to_double():
    # Scaled below 1, a 20 x 20 frame is padded back with ignore columns: 20 - round(20 s) of them.
    # With the default 0.5-2.0, up to 10 columns, and two thirds of the draws (s >= 1) none at all.
    padded = []
    for seed in range(600):
        out = np.asarray(RandomScaleCrop(None, ignore_index=IGNORE)(_coded(20, 20), np.random.default_rng(seed)).label)
        assert out.shape == (20, 20)  # cropped back to the input's own size
        padded.append(int((out[0] == IGNORE).sum()))
    assert max(padded) >= 9
    assert 0.60 <= np.mean([p == 0 for p in padded]) <= 0.74


@pytest.mark.parametrize("scale_aug", [True, False])
def test_training_pipeline_flips_about_half_the_time_and_flips_exactly(scale_aug):
    sample = _coded(8, 12)
    pipeline = train_transform((8, 12), IGNORE, scale_aug=scale_aug)
    reference = train_transform((8, 12), IGNORE, scale_aug=False)
    flips = 0
    for seed in range(40):
        out = pipeline(sample, np.random.default_rng(seed))
        label = out.label.numpy()
        if not scale_aug:
            plain = np.arange(96).reshape(8, 12)
            assert np.array_equal(label, plain) or np.array_equal(label, plain[:, ::-1])
            flips += int(np.array_equal(label, plain[:, ::-1]))
        else:
            valid = label != IGNORE
            columns = label % 12
            rows_ok = valid.sum(axis=1) > 1
            # within a row, the source columns run right to left exactly when the crop was flipped
            steps = [np.diff(columns[r][valid[r]]) for r in range(8) if rows_ok[r]]
            flipped = all((d <= 0).all() for d in steps) and any((d < 0).any() for d in steps)
            flips += int(flipped)
    assert 10 <= flips <= 30
    assert reference(sample, np.random.default_rng(0)).label.shape == (8, 12)
