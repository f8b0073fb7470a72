import pytest
import torch

import segnet


def test_mc_dropout_mean_and_uncertainty():
    torch.manual_seed(0)
    model = segnet.create_model("bayesian_segnet_basic", num_classes=4).eval()
    x = torch.randn(2, 3, 32, 40)
    mean, uncertainty = segnet.mc_dropout_predict(model, x, samples=4)
    assert mean.shape == (2, 4, 32, 40) and uncertainty.shape == (2, 32, 40)
    assert torch.allclose(mean.sum(1), torch.ones(2, 32, 40), atol=1e-5)
    assert (uncertainty >= 0).all() and uncertainty.max() > 0  # dropout really sampled
    assert not any(m.training for m in model.modules())  # modes restored
    # BatchNorm ran on its running statistics: in eval a single pass is deterministic.
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_mc_dropout_matches_manual_sampling():
    torch.manual_seed(1)
    model = segnet.create_model("bayesian_segnet_basic", num_classes=3).eval()
    x = torch.randn(1, 3, 32, 32)
    torch.manual_seed(5)
    mean, uncertainty = segnet.mc_dropout_predict(model, x, samples=3)
    torch.manual_seed(5)
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.train()
    with torch.no_grad():
        probs = torch.stack([model(x).softmax(1) for _ in range(3)])
    assert torch.allclose(mean, probs.mean(0), atol=1e-6)
    assert torch.allclose(uncertainty, probs.var(0, unbiased=False).mean(1), atol=1e-6)


def test_mc_dropout_needs_dropout():
    with pytest.raises(ValueError, match="no dropout"):
        segnet.mc_dropout_predict(segnet.create_model("segnet_basic", 3), torch.randn(1, 3, 32, 32))
