"""One tester runs over every registered model: shapes, modes, equivalence with torch's indices."""

import contextlib
import copy
import inspect

import pytest
import torch

import segnet
from segnet.models import count_parameters, measure_complexity, model_entry

MODELS = segnet.list_models()


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    torch.manual_seed(0)
    return segnet.create_model(request.param, num_classes=5)


@pytest.mark.parametrize("size", [(360, 480), (361, 479), (64, 64)])
@pytest.mark.parametrize("train", [True, False])
def test_logits_match_input_size_on_meta(model, size, train):
    # The meta device propagates the real shape functions without spending CPU time.
    meta = copy.deepcopy(model).to("meta").train(train)
    out = meta(torch.empty(2, 3, *size, device="meta"))
    assert out.shape == (2, 5, *size)


@contextlib.contextmanager
def onednn(enabled: bool):
    """oneDNN on or off for a block (``torch.backends.mkldnn.flags`` also sets TF32 and warns about it)."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


@pytest.mark.parametrize("size", [(64, 64), (67, 45)])
@pytest.mark.parametrize("train", [True, False])
def test_real_forward_backward(model, size, train):
    if count_parameters(model) > 100_000_000 and (size, train) != ((67, 45), True):
        # FCN-8s and DeconvNet: 8-18 s a case on a 2-core AVX2 CPU; the odd size in training mode
        # (every unpooling's output_size, BatchNorm's batch statistics) is the case that can break.
        pytest.skip("over 100 M parameters: the odd size in training mode only")
    model.train(train)
    x = torch.randn(2, 3, *size, requires_grad=True)
    # This pins the models' shapes and gradients, not the CPU kernels: oneDNN's backward of the
    # big models' 7x7 layers on a 3x2 map takes 8 s a layer on a 2-core AVX2 CPU, torch's own 0.5-2 s.
    with onednn(enabled=count_parameters(model) <= 100_000_000):
        out = model(x)
        assert out.shape == (2, 5, *size)
        assert torch.isfinite(out).all()
        out.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()


def test_compact_indices_equal_torch_indices_end_to_end(model):
    """Same weights with torch's int64 indices: identical logits and gradients."""
    if "compact_indices" not in inspect.signature(model_entry(model.spec.name).builder).parameters:
        pytest.skip("keeps no pooling indices")
    reference = segnet.create_model(model.spec.name, 5, compact_indices=False)
    reference.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 70, 53)
    model.train()
    reference.train()
    torch.manual_seed(11)  # the Bayesian models draw their dropout masks: the same ones for both runs
    out = model(x)
    torch.manual_seed(11)
    ref_out = reference(x)
    assert torch.equal(out, ref_out)
    if count_parameters(model) > 100_000_000:
        return  # DeconvNet (40 s on 2 AVX2 cores): gradients are compared on the smaller models, same pooling code
    grad = torch.randn_like(out)
    out.backward(grad)
    ref_out.backward(grad)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-5, atol=1e-6), name
    model.zero_grad()


def test_checkpoint_roundtrip(model, tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"spec": model.spec.to_dict(), "state": model.state_dict()}, path)
    if count_parameters(model) > 100_000_000:
        # FCN-8s and DeconvNet (up to 1 GB): rebuilt on the meta device and given the saved tensors,
        # as big models are loaded, since initialising and running them twice took 10 s here.
        saved = torch.load(path, weights_only=True, mmap=True)
        with torch.device("meta"):
            rebuilt = segnet.create_model_from_spec(saved["spec"])
        rebuilt.load_state_dict(saved["state"], assign=True)  # strict: every name and shape must fit
        rebuilt_state = rebuilt.state_dict()
        assert all(torch.equal(value, rebuilt_state[key]) for key, value in model.state_dict().items())
        return
    saved = torch.load(path, weights_only=True)
    rebuilt = segnet.create_model_from_spec(saved["spec"])
    rebuilt.load_state_dict(saved["state"])
    model.eval()
    rebuilt.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():  # eval mode: the Bayesian models' dropout is off, so the two are deterministic
        assert torch.equal(model(x), rebuilt(x))


def test_rejects_bad_input(model):
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.randn(1, 4, 64, 64))
    with pytest.raises(ValueError, match="at least"):
        model(torch.randn(1, 3, 8, 8))


def test_segnet_matches_paper_size():
    model = segnet.create_model("segnet", num_classes=11)
    assert abs(count_parameters(model) - 29.4e6) < 0.1e6
    complexity = measure_complexity(model, (3, 360, 480))
    # ~106 G multiply-adds at 360x480 (the figure); FLOPs count each as 2.
    assert 200 < complexity.gflops < 225
    assert complexity.indices_int64_bytes == 8 * (64 * 180 * 240 + 128 * 90 * 120 + 256 * 45 * 60
                                                  + 512 * 23 * 30 + 512 * 12 * 15)
    assert complexity.indices_compact_bytes * 30 < complexity.indices_int64_bytes


def test_segnet_basic_structure():
    model = segnet.create_model("segnet_basic", num_classes=11)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(7, 7)] * 8 + [(1, 1)]
    assert all(c.out_channels == 64 for c in convs[:-1])
    relus = [m for m in model.decoder.modules() if isinstance(m, torch.nn.ReLU)]
    assert relus == []  # the paper's basic decoder has no ReLU
    assert isinstance(model.input_norm, torch.nn.LocalResponseNorm)


def test_logits_have_no_batchnorm_or_relu():
    """The last layer to run is a (transposed) convolution; resizing or adding may follow."""
    for name in MODELS:
        with torch.device("meta"):
            model = segnet.create_model(name, 3)
        ran = []
        for module in model.modules():
            if not list(module.children()):
                module.register_forward_hook(lambda m, i, o: ran.append(m))
        model(torch.empty(1, 3, 64, 64, device="meta"))
        assert isinstance(ran[-1], (torch.nn.Conv2d, torch.nn.ConvTranspose2d)), name


@pytest.mark.parametrize("name,expected", [("bayesian_segnet", 6), ("bayesian_segnet_basic", 6),
                                           ("segnet", 0), ("segnet_basic", 0)])
def test_dropout_placement(name, expected):
    model = segnet.create_model(name, 3)
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) == expected


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="known models: .*segnet_basic"):
        segnet.create_model("segnet_large", 11)


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("size", [3, 5])
def test_input_lrn_matches_torch(channels, size):
    """The shortcut (one divisor when the window spans every channel) equals torch's LRN; wider
    inputs go through torch's own."""
    from segnet.models.layers import InputLocalResponseNorm

    x = torch.randn(2, channels, 9, 11, generator=torch.Generator().manual_seed(channels)) * 40
    ours = InputLocalResponseNorm(size=size, alpha=1e-2, beta=0.75, k=1.0)
    reference = torch.nn.LocalResponseNorm(size=size, alpha=1e-2, beta=0.75, k=1.0)
    torch.testing.assert_close(ours(x), reference(x), rtol=1e-6, atol=1e-6)
