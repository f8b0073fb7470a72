"""ConfusionMatrix and metrics_from_confusion against scikit-learn and hand-computed matrices."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    jaccard_score,
    recall_score,
)

from segnet.metrics import ConfusionMatrix, metrics_from_confusion

N_CLASSES = 6  # ground truth uses 0..3, predictions 0..4, class 5 appears nowhere
IGNORE = 255


def _batches(seed: int = 0, n_batches: int = 3):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        target = rng.integers(0, 4, size=(2, 8, 9))
        target[rng.random(target.shape) < 0.15] = IGNORE
        wrong = rng.integers(0, 5, size=target.shape)
        pred = np.where(rng.random(target.shape) < 0.6, target, wrong)
        pred[pred == IGNORE] = 4
        out.append((pred, target))
    return out


def _flat_valid(batches):
    pred = np.concatenate([p.ravel() for p, _ in batches])
    target = np.concatenate([t.ravel() for _, t in batches])
    keep = target != IGNORE
    return target[keep], pred[keep]


@pytest.fixture
def accumulated():
    batches = _batches()
    cm = ConfusionMatrix(N_CLASSES, ignore_index=IGNORE)
    for pred, target in batches:
        cm.update(torch.from_numpy(pred), torch.from_numpy(target))
    y_true, y_pred = _flat_valid(batches)
    return cm, y_true, y_pred


def test_matrix_matches_sklearn(accumulated):
    cm, y_true, y_pred = accumulated
    expected = confusion_matrix(y_true, y_pred, labels=list(range(N_CLASSES)))
    assert cm.matrix.dtype == torch.int64
    np.testing.assert_array_equal(cm.matrix.numpy(), expected)


def test_scores_match_sklearn(accumulated):
    cm, y_true, y_pred = accumulated
    result = cm.compute()
    labels = list(range(N_CLASSES))
    in_gt = sorted(set(y_true.tolist()))

    assert result["global_accuracy"] == pytest.approx(100 * accuracy_score(y_true, y_pred))
    assert result["class_accuracy"] == pytest.approx(
        100 * recall_score(y_true, y_pred, labels=in_gt, average="macro")
    )
    # sklearn scores a class absent from both maps as 0; ours leaves it out (NaN)
    iou = jaccard_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, np.union1d(y_true, y_pred))
    assert present.tolist() == [True] * 5 + [False] and iou[4] == 0
    iou[~present] = np.nan
    assert result["miou"] == pytest.approx(100 * np.nanmean(iou))

    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    for c, entry in enumerate(result["per_class"]):
        np.testing.assert_allclose(entry["accuracy"], 100 * recall[c], equal_nan=True)
        np.testing.assert_allclose(entry["iou"], 100 * iou[c], equal_nan=True)
        assert entry["support"] == int((y_true == c).sum())


def test_out_of_range_targets_dropped_and_dtypes():
    cm = ConfusionMatrix(3, ignore_index=None)
    target = torch.tensor([[0, 1, 2, -1, 3, 7]], dtype=torch.int32)
    pred = torch.tensor([[0, 2, 2, 1, 0, 1]], dtype=torch.uint8)
    cm.update(pred, target)
    np.testing.assert_array_equal(cm.matrix.numpy(), [[1, 0, 0], [0, 0, 1], [0, 0, 1]])
    cm.reset()
    assert int(cm.matrix.sum()) == 0


def test_hand_computed_matrix():
    # class 1 is predicted once but never labelled: no recall, but IoU 0 counts in mIoU
    result = metrics_from_confusion(np.array([[3, 1], [0, 0]]))
    assert result["global_accuracy"] == pytest.approx(75.0)
    assert result["class_accuracy"] == pytest.approx(75.0)
    assert result["miou"] == pytest.approx((75.0 + 0.0) / 2)
    assert math.isnan(result["per_class"][1]["accuracy"])


def test_empty_matrix_is_nan():
    result = ConfusionMatrix(4).compute()
    assert all(math.isnan(result[k]) for k in ("global_accuracy", "class_accuracy", "miou"))


def test_all_reduce_without_distributed_is_noop(accumulated):
    cm, _, _ = accumulated
    before = cm.matrix.clone()
    cm.all_reduce()
    assert torch.equal(cm.matrix, before)


def test_helpful_errors():
    cm = ConfusionMatrix(3, ignore_index=255)
    with pytest.raises(ValueError, match="argmax"):
        cm.update(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cm.update(torch.tensor([0, 3]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="square"):
        metrics_from_confusion(np.zeros((2, 3)))


def test_an_ignore_index_inside_the_class_range_is_dropped():
    # 4 classes and ignore_index 2 (a dataset whose void label is a small number): pixels labelled 2
    # never count, whatever was predicted for them; predictions of 2 elsewhere still count.
    target = torch.tensor([0, 1, 2, 2, 3, 3, 1])
    pred = torch.tensor([0, 2, 0, 3, 3, 1, 1])
    cm = ConfusionMatrix(4, ignore_index=2)
    cm.update(pred, target)
    keep = target.numpy() != 2
    expected = confusion_matrix(target.numpy()[keep], pred.numpy()[keep], labels=[0, 1, 2, 3])
    np.testing.assert_array_equal(cm.matrix.numpy(), expected)
    assert int(cm.matrix.sum()) == 5 and int(cm.matrix[2].sum()) == 0 and int(cm.matrix[:, 2].sum()) == 1
