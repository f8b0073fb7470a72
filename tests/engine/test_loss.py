import itertools

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import jaccard_score

from segnet.cli.main import main
from segnet.engine.config import TrainConfig
from segnet.engine.distributed import DistInfo
from segnet.engine.loss import (
    loss_normalizer,
    summed_cross_entropy,
    summed_lovasz_softmax,
)
from segnet.engine.stop import StopRequests
from segnet.engine.trainer import _optimiser_step


def test_summed_loss_over_normalizer_equals_torch_weighted_mean():
    logits = torch.randn(3, 4, 5, 6)
    target = torch.randint(0, 5, (3, 5, 6))  # 4 = ignore
    weights = torch.tensor([0.5, 2.0, 1.0, 3.0])
    mean = F.cross_entropy(logits, target, weight=weights, ignore_index=4)
    ours = summed_cross_entropy(logits, target, weights, 4) / loss_normalizer(target, weights, 4)
    assert torch.allclose(ours.float(), mean, atol=1e-6)
    plain = F.cross_entropy(logits, target, ignore_index=4)
    assert torch.allclose((summed_cross_entropy(logits, target, None, 4) / loss_normalizer(target, None, 4)).float(),
                          plain, atol=1e-6)


def test_split_batches_sum_to_the_whole():
    logits = torch.randn(4, 3, 6, 6)
    target = torch.randint(0, 4, (4, 6, 6))
    weights = torch.tensor([1.0, 2.0, 0.5])
    whole = summed_cross_entropy(logits, target, weights, 3) / loss_normalizer(target, weights, 3)
    parts = sum(summed_cross_entropy(logits[i:i + 2], target[i:i + 2], weights, 3) for i in (0, 2))
    norm = sum(loss_normalizer(target[i:i + 2], weights, 3) for i in (0, 2))
    assert torch.allclose(whole, parts / norm)


# --- Lovász-softmax -------------------------------------------------------------------------------


def test_lovasz_of_confident_predictions_is_one_minus_iou_per_present_class():
    """At one-hot probabilities the extension equals the Jaccard loss it extends (sklearn's IoU)."""
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 3, (2, 7, 9), generator=generator)  # classes 0-2 of 4; class 3 never present
    predicted = torch.randint(0, 4, (2, 7, 9), generator=generator)
    target[1, 0, :4] = 4  # ignored pixels
    logits = F.one_hot(predicted, 4).permute(0, 3, 1, 2).float() * 200.0
    expected = 0.0
    for image in range(2):
        valid = target[image] != 4
        truth, guess = target[image][valid].numpy(), predicted[image][valid].numpy()
        present = sorted(set(truth.tolist()))
        expected += 1.0 - jaccard_score(truth, guess, labels=present, average=None).mean()
    assert summed_lovasz_softmax(logits, target, 4).item() == pytest.approx(expected, abs=1e-6)


def _jaccard_set_loss(mistaken: set[int], foreground: set[int]) -> float:
    return len(mistaken) / len(foreground | mistaken) if mistaken else 0.0


def test_lovasz_equals_the_extension_built_from_its_set_function_by_hand():
    """Berman et al.'s definition: sort errors, weight each by the set function's increment."""
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(1, 3, 2, 3, generator=generator)
    target = torch.tensor([[[0, 0, 2], [2, 0, 2]]])
    probs = logits.softmax(1)[0].reshape(3, -1)
    labels = target.reshape(-1).tolist()
    per_class = []
    for cls in (0, 2):  # the classes present; class 1 is absent and does not count
        foreground = {i for i, label in enumerate(labels) if label == cls}
        errors = [abs((1.0 if labels[i] == cls else 0.0) - probs[cls, i].item()) for i in range(len(labels))]
        order = sorted(range(len(labels)), key=lambda i: -errors[i])
        value = sum(errors[pixel] * (_jaccard_set_loss(set(order[:k + 1]), foreground)
                                     - _jaccard_set_loss(set(order[:k]), foreground))
                    for k, pixel in enumerate(order))
        per_class.append(value)
    assert summed_lovasz_softmax(logits, target, 255).item() == pytest.approx(sum(per_class) / 2, abs=1e-6)


def test_lovasz_is_zero_for_a_perfect_confident_prediction_and_skips_unlabelled_images():
    target = torch.tensor([[[0, 1], [1, 1]], [[5, 5], [5, 5]]])  # the second image is all void
    logits = F.one_hot(target.clamp(max=2), 3).permute(0, 3, 1, 2).float() * 200.0
    assert summed_lovasz_softmax(logits, target, 5).item() == pytest.approx(0.0, abs=1e-6)
    worse = logits.clone()
    worse[0, :, 0, 0] = torch.tensor([0.0, 0.0, 200.0])  # one pixel of class 0 now predicted as 2
    assert summed_lovasz_softmax(worse, target, 5).item() == pytest.approx(0.5, abs=1e-6)  # class 0 IoU 0, class 1 IoU 1


@pytest.mark.parametrize("lovasz_weight", [0.0, 0.7])
def test_an_accumulated_step_equals_one_whole_batch_and_reports_its_loss(lovasz_weight):
    """Two micro-batches of one image step exactly as one batch of two; the loss is CE + w x Lovász."""
    generator = torch.Generator().manual_seed(2)
    images = torch.randn(2, 3, 6, 8, generator=generator)
    target = torch.randint(0, 4, (2, 6, 8), generator=generator)  # 3 = ignore
    weights = torch.tensor([1.0, 2.0, 0.5])
    updated, reported = [], []
    for batch_size, accum in ((2, 1), (1, 2)):
        torch.manual_seed(3)
        model = torch.nn.Conv2d(3, 3, 3, padding=1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        cfg = TrainConfig(batch_size=batch_size, accum_steps=accum, lovasz_weight=lovasz_weight)
        batches = iter([(images[i:i + batch_size], target[i:i + batch_size]) for i in range(0, 2, batch_size)])
        with torch.no_grad():
            logits = model(images)
        expected = F.cross_entropy(logits, target, weight=weights, ignore_index=3)
        expected = expected + lovasz_weight * summed_lovasz_softmax(logits, target, 3) / 2
        loss, stop_votes = _optimiser_step(cfg, model, optimizer, batches, weights, 3, torch.device("cpu"),
                                           DistInfo(), StopRequests())
        assert stop_votes == 0
        reported.append((loss, expected.item()))
        updated.append([p.detach().clone() for p in model.parameters()])
    for value, expected in reported:
        assert value == pytest.approx(expected, rel=1e-5)
    for whole, accumulated in itertools.zip_longest(*updated):
        assert torch.allclose(whole, accumulated, atol=1e-6)


@pytest.mark.parametrize("weight", ["-1", "nan", "inf"])
def test_bad_lovasz_weight_is_a_one_line_error(tmp_path, capsys, weight):
    code = main(["train", "--model", "segnet_basic", "--data-root", str(tmp_path / "nowhere"),
                 "--run-dir", str(tmp_path / "r"), "--lovasz-weight", weight, "--no-progress"])
    assert code == 2
    error = capsys.readouterr().err
    assert "Lovász weight must be >= 0" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
