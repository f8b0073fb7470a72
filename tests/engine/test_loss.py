import torch
import torch.nn.functional as F

from segnet.engine.loss import loss_normalizer, summed_cross_entropy


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
