import copy

import pytest
import torch

import segnet
from segnet.inference import logits_at_size
from segnet.backends import prepare_for_inference
from segnet.optimize import fold_batchnorm


def _with_trained_statistics(model):
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("name", ["segnet_basic", "segnet"])
def test_folded_model_equals_unfolded_in_float32(name):
    # Seeded: on an unlucky input a pooling window's two largest values tie to float32 rounding and
    # folding moves the maximum to the other cell, a real but local ~1e-3 difference.
    torch.manual_seed(1)
    model = _with_trained_statistics(segnet.create_model(name, 11))
    torch.manual_seed(2)
    folded = fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        reference, fast = model(x), folded(x)
    assert torch.allclose(reference, fast, atol=1e-4, rtol=1e-4)


def test_prepared_bf16_channels_last_agrees_with_reference():
    model = _with_trained_statistics(segnet.create_model("segnet_basic", 11))
    fast = prepare_for_inference(model, precision="bf16", channels_last=True)
    assert next(fast.parameters()).dtype == torch.bfloat16
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # original untouched
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        reference = model(x)
        logits = logits_at_size(fast, x)
    assert logits.dtype == torch.float32 and logits.shape == reference.shape
    agreement = (logits.argmax(1) == reference.argmax(1)).float().mean()
    assert agreement > 0.95


def test_bf16_model_is_folded_in_float32_before_the_cast():
    """Folding after the cast would round the BN scale into bf16 weights twice (errors up to ~0.008)."""
    from segnet.optimize import prepare_float

    torch.manual_seed(3)
    model = _with_trained_statistics(segnet.create_model("segnet_basic", 11))
    want = fold_batchnorm(copy.deepcopy(model)).to(torch.bfloat16).state_dict()
    got = prepare_float(model, "bf16").state_dict()
    assert set(got) == set(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_prepared_models_hold_no_batchnorm_by_default():
    torch.manual_seed(4)
    model = _with_trained_statistics(segnet.create_model("segnet_basic", 11))
    for precision in ("fp32", "bf16"):
        fast = prepare_for_inference(model, precision=precision)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules()), precision
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original untouched


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_that_emulates_it_is_flagged(monkeypatch, native):
    """bf16 autocast without AVX512-BF16/AMX is the slow setting: train and refresh-bn say so."""
    import segnet.optimize as optimize
    monkeypatch.setattr(optimize, "cpu_has_fast_bf16", lambda: native)
    cpu = torch.device("cpu")
    warning = optimize.emulated_bf16_warning("bf16", cpu)
    assert (warning is None) == native
    if not native:
        assert "--amp none" in warning
    assert optimize.emulated_bf16_warning("none", cpu) is None
    assert optimize.emulated_bf16_warning("bf16", torch.device("cuda")) is None
