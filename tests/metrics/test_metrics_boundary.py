"""Boundary F1 against hand-counted cases and a per-class distance-transform reference."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from segnet.metrics import BoundaryF1Meter, boundary_f1

IGNORE = 255


def _split(col: int, size: int = 100) -> np.ndarray:
    """Two classes: 0 left of ``col``, 1 from ``col`` on (a vertical boundary)."""
    labels = np.zeros((size, size), dtype=np.int64)
    labels[:, col:] = 1
    return labels


def _reference_bf(pred, target, num_classes, ignore_index, tolerance_ratio):
    """Straight from the definition: pixel loops for boundaries, one EDT per class and map."""
    h, w = target.shape
    valid = (target != ignore_index) & (target >= 0) & (target < num_classes)

    def boundary(labels, c):
        out = np.zeros((h, w), dtype=bool)
        for y in range(h):
            for x in range(w):
                if not valid[y, x] or labels[y, x] != c:
                    continue
                for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= ny < h and 0 <= nx < w and valid[ny, nx] and labels[ny, nx] != c:
                        out[y, x] = True
        return out

    def matched(points, reference):
        if not points.any() or not reference.any():
            return 0.0
        return float(np.mean(distance_transform_edt(~reference)[points] <= tolerance))

    tolerance = tolerance_ratio * math.hypot(h, w)
    scores = []
    for c in range(num_classes):
        gt_b, pred_b = boundary(target, c), boundary(pred, c)
        if not gt_b.any() and not pred_b.any():
            continue
        p, r = matched(pred_b, gt_b), matched(gt_b, pred_b)
        scores.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return float(np.mean(scores)) if scores else float("nan")


def test_identical_maps_score_one():
    labels = _split(40)
    labels[10:30, 60:80] = 2
    assert boundary_f1(labels, labels, 3) == 1.0
    meter = BoundaryF1Meter(3)
    meter.update(torch.from_numpy(labels[None]), torch.from_numpy(labels[None]))
    assert meter.compute() == pytest.approx(100.0)


def test_one_pixel_shift_within_paper_tolerance():
    # tolerance = 0.0075 * sqrt(2) * 100 = 1.06 px covers a 1-pixel shift
    assert boundary_f1(_split(51), _split(50), 2) == 1.0


def test_one_pixel_shift_zero_tolerance():
    assert boundary_f1(_split(51), _split(50), 2, tolerance_ratio=0.0) == 0.0
    # shift only the top half: per class, 50 of the 100 boundary pixels coincide in each map
    # (the step adds no pixel: (49, 50) and (50, 50) are on the class-0 / class-1 columns anyway)
    pred = _split(50)
    pred[:50, 50] = 0
    assert boundary_f1(pred, _split(50), 2, tolerance_ratio=0.0) == pytest.approx(0.5)


def test_shift_far_beyond_tolerance_scores_zero():
    assert boundary_f1(_split(70), _split(50), 2) == 0.0


def test_hand_counted_square():
    # 10 x 10, ground-truth 5 x 5 square (rows/cols 2..6), predicted 3 x 3 (3..5), tol 1.2 px.
    # class 1: predicted ring (8 px) all at distance 1 -> P = 1; of the 16 ground-truth ring pixels
    #   the 4 corners are sqrt(2) > 1.2 away -> R = 12/16; F1 = 6/7.
    # class 0: 12 predicted pixels all at distance 1 -> P = 1; of the 20 ground-truth pixels
    #   (5 per side, no diagonal corners) the 2 ends of each side are sqrt(2) away -> R = 12/20;
    #   F1 = 0.75.
    target = np.zeros((10, 10), dtype=np.int64)
    target[2:7, 2:7] = 1
    pred = np.zeros_like(target)
    pred[3:6, 3:6] = 1
    ratio = 1.2 / math.hypot(10, 10)
    assert boundary_f1(pred, target, 2, tolerance_ratio=ratio) == pytest.approx((6 / 7 + 0.75) / 2)


def test_image_border_and_void_edges_are_not_boundaries():
    one_class = np.zeros((20, 30), dtype=np.int64)
    assert math.isnan(boundary_f1(one_class, one_class, 2))
    with_hole = one_class.copy()
    with_hole[5:10, 5:15] = IGNORE
    assert math.isnan(boundary_f1(one_class, with_hole, 2, ignore_index=IGNORE))


def test_predictions_on_ignored_pixels_do_not_count():
    target = _split(50)
    target[:, 20:35] = IGNORE
    target[60:, 70:90] = IGNORE
    pred = np.where(target == IGNORE, np.random.default_rng(0).integers(0, 3, target.shape), target)
    assert boundary_f1(pred, target, 3, ignore_index=IGNORE, tolerance_ratio=0.0) == 1.0


@pytest.mark.parametrize("ratio", [0.0, 0.0075, 0.05, 0.12])
def test_matches_reference_on_random_maps(ratio):
    rng = np.random.default_rng(int(ratio * 1000))
    for _ in range(3):
        target = np.kron(rng.integers(0, 4, size=(4, 5)), np.ones((6, 6), dtype=np.int64))
        target[rng.random(target.shape) < 0.05] = IGNORE
        noise = (rng.random(target.shape) < 0.1) | (target == IGNORE)
        pred = target.copy()
        pred[noise] = rng.integers(0, 4, size=noise.sum())
        pred = np.roll(pred, rng.integers(-2, 3), axis=1)
        expected = _reference_bf(pred, target, 4, IGNORE, ratio)
        assert boundary_f1(pred, target, 4, IGNORE, ratio) == pytest.approx(expected)


def test_meter_averages_images_and_skips_nan():
    maps = np.stack([_split(50), _split(70), np.zeros((100, 100), dtype=np.int64)])
    targets = np.stack([_split(50)] * 2 + [np.zeros((100, 100), dtype=np.int64)])
    meter = BoundaryF1Meter(2)
    meter.update(maps[:2], targets[:2])
    # no boundary at all: NaN, not counted
    meter.update(torch.from_numpy(maps[2]), torch.from_numpy(targets[2]))
    assert meter.count == 2
    assert meter.compute() == pytest.approx(50.0)
    meter.all_reduce()  # not distributed: unchanged
    assert meter.compute() == pytest.approx(50.0)
    meter.reset()
    assert math.isnan(meter.compute())


def test_helpful_errors():
    with pytest.raises(ValueError, match="N x H x W"):
        boundary_f1(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), 2)
    with pytest.raises(ValueError, match="argmax"):
        BoundaryF1Meter(2).update(np.zeros((1, 2, 4, 4)), np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        boundary_f1(np.full((4, 4), 5), np.zeros((4, 4)), 2)


def test_per_class_bf_by_hand():
    """Two images. Class 1's boundary is found exactly in both (F1 1); class 2 appears only in
    the second image's prediction, a false positive (F1 0 there, never scored in the first)."""
    from segnet.metrics.boundary import BoundaryF1Meter

    target = np.zeros((20, 20), dtype=np.int64)
    target[5:15, 5:15] = 1
    pred_b = target.copy()
    pred_b[0:3, 17:20] = 2  # a spurious class-2 blob far from every class-2 boundary
    meter = BoundaryF1Meter(3, tolerance_ratio=0.0)
    meter.update(np.stack([target, pred_b]), np.stack([target, target]))
    per_class = meter.compute_per_class()
    assert per_class[1] == pytest.approx(100.0)
    assert per_class[2] == pytest.approx(0.0)  # scored in one image, where it is all wrong
    # class 0's boundary moves in image 2 (the blob cuts into it): between 0 and 100
    assert 0 < per_class[0] <= 100
    class0_image2 = 2 * per_class[0] / 100 - 1.0  # per_class[0] averages image 1's 1.0 and image 2's F1
    assert meter.compute() == pytest.approx(100 * (1.0 + np.mean([class0_image2, 1.0, 0.0])) / 2)


@pytest.mark.parametrize("shift, expected", [(4, 1.0), (5, 0.0)])
def test_default_tolerance_is_the_papers_three_quarters_of_a_percent(shift, expected):
    # 360 x 480: diagonal 600 px, so 0.75% is 4.5 px (1% would be 6 px, 7.5% 45 px). A boundary
    # moved 4 px matches; moved 5 px it matches nothing at the default, though it would at 1%.
    target = np.zeros((360, 480), dtype=np.int64)
    target[:, 240:] = 1
    pred = np.zeros_like(target)
    pred[:, 240 + shift:] = 1
    assert boundary_f1(pred, target, num_classes=2) == pytest.approx(expected)
    assert BoundaryF1Meter(2).tolerance_ratio == boundary_f1.__defaults__[-1] == 0.0075


def test_a_class_only_in_the_prediction_scores_zero_not_skipped():
    from segnet.metrics.boundary import boundary_f1_per_class

    target = _split(50)
    pred = target.copy()
    pred[10:20, 10:20] = 2  # a false-positive class: boundaries in the prediction only
    f1, scored = boundary_f1_per_class(pred, target, num_classes=3)
    assert scored.tolist() == [True, True, True] and f1[2] == 0.0
    assert boundary_f1(pred, target, num_classes=3) == pytest.approx(f1.mean())
    assert boundary_f1(pred, target, num_classes=3) < 2 / 3 + 1e-9  # the zero pulls the mean down
