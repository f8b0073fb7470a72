"""Int8SegNet against the float32 model, calibrate() against hooks, and the errors of the int8 path.

Pinned: int8 logits stay within a few percent of float32 (SegNet and SegNet-Basic, batch 1 and 2,
odd sizes, either memory layout) and a deliberately wrong grid makes them clearly worse; the
calibrated ranges are the folded model's conv outputs (after ReLU where one follows); calibration
leaves the model alone; unsupported models, missing ranges and int8 off the CPU are errors.
"""

import copy

import pytest
import torch
from torch import nn

import segnet
from segnet import optimize
from segnet.models import list_models
from segnet.backends import prepare_for_inference
from segnet.optimize import fold_batchnorm, int8_kernels_available, resolve_precision
from segnet.quantize import Int8SegNet, calibrate, quantize_model

pytestmark = pytest.mark.skipif(not int8_kernels_available(),
                                reason="this torch build has no oneDNN int8 conv (x86 CPU builds do)")

# Convs followed by a ReLU, from the architectures (Caffe SegNet-Basic's decoder has none).
RELU = {"segnet_basic": lambda name: name.startswith("encoder."), "segnet": lambda name: name != "classifier"}


def compare(out: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """Argmax agreement (all pixels, and where float32's top-2 margin is 4x the int8 error) and
    the relative L2 error of the logits."""
    agree = out.argmax(1) == ref.argmax(1)
    top2 = ref.topk(2, dim=1).values
    confident = (top2[:, 0] - top2[:, 1]) > 4 * (out - ref).std()
    return {"agreement": agree.double().mean().item(),
            "confident_agreement": agree[confident].double().mean().item(),
            "confident_share": confident.double().mean().item(),
            "relative_error": ((out - ref).norm() / ref.norm()).item()}


@pytest.fixture(scope="module")
def calibrated(make_float_model, make_images):
    """name -> (float model, its ranges on 3 image-like inputs at 64x96)."""
    out = {}
    for name, seed in [("segnet_basic", 20), ("segnet", 1)]:
        model = make_float_model(name, seed)
        out[name] = model, calibrate(model, make_images(3, 64, 96, seed=100))
    return out


@pytest.mark.parametrize("name", ["segnet_basic", "segnet"])
@pytest.mark.parametrize("batch", [1, 2])
def test_int8_logits_close_to_float32(calibrated, make_images, name, batch):
    model, ranges = calibrated[name]
    int8 = quantize_model(model, ranges)
    assert isinstance(int8, Int8SegNet)
    x = torch.cat(make_images(batch, 64, 96, seed=200 + batch))
    with torch.no_grad():
        ref = model(x)
        out = int8(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    stats = compare(out, ref)
    # Measured: relative error 0.03-0.06, agreement 0.90-1.0 over seeds (a random model has many
    # near-ties); where float32 is not near a tie int8 must agree with it.
    assert stats["relative_error"] < 0.1, stats
    assert stats["agreement"] > 0.95, stats
    assert stats["confident_agreement"] > 0.99 and stats["confident_share"] > 0.5, stats


@pytest.mark.parametrize("name", ["segnet_basic", "segnet"])
def test_a_wrong_grid_is_clearly_worse(calibrated, make_images, name):
    model, ranges = calibrated[name]
    x = make_images(1, 64, 96, seed=300)[0]
    wide = {key: (100 * low, 100 * high) for key, (low, high) in ranges.items()}
    with torch.no_grad():
        ref = model(x)
        good = compare(quantize_model(model, ranges)(x), ref)
        bad = compare(quantize_model(model, wide)(x), ref)
    assert bad["relative_error"] > 0.25 and bad["relative_error"] > 4 * good["relative_error"], (good, bad)


def test_input_layout_and_odd_sizes(calibrated, make_images):
    model, ranges = calibrated["segnet_basic"]
    int8 = quantize_model(model, ranges)
    x = make_images(1, 45, 61, seed=400)[0]
    with torch.no_grad():
        ref = model(x)
        out = int8(x)
        out_cl = int8(x.contiguous(memory_format=torch.channels_last))
    assert out.shape == (1, 11, 45, 61)
    torch.testing.assert_close(out_cl, out, rtol=0, atol=1e-5)
    stats = compare(out, ref)
    assert stats["relative_error"] < 0.1 and stats["confident_agreement"] > 0.99, stats


def test_segnet_odd_size_runs(calibrated, make_images):
    model, ranges = calibrated["segnet"]
    x = make_images(1, 45, 61, seed=401)[0]
    with torch.no_grad():
        out = quantize_model(model, ranges)(x.contiguous(memory_format=torch.channels_last))
        ref = model(x)
    assert out.shape == (1, 11, 45, 61)
    assert compare(out, ref)["relative_error"] < 0.1


@pytest.mark.parametrize("name", ["segnet_basic", "segnet"])
def test_calibrate_matches_hooks_on_the_folded_model(calibrated, make_images, name):
    model, ranges = calibrated[name]
    folded = fold_batchnorm(copy.deepcopy(model))
    convs = {n: m for n, m in folded.named_modules() if isinstance(m, nn.Conv2d)}
    assert set(ranges) == set(convs) | {"input"}
    seen: dict[str, list[float]] = {}

    def hook(name):
        def record(_module, _args, out):
            low, high = seen.setdefault(name, [float("inf"), float("-inf")])
            seen[name] = [min(low, float(out.min())), max(high, float(out.max()))]
        return record

    for conv_name, conv in convs.items():
        conv.register_forward_hook(hook(conv_name))
    first_input = []
    with torch.no_grad():
        for image in make_images(3, 64, 96, seed=100):  # the fixture's calibration images
            folded(image)
            first_input.append(model.input_norm(image) if name == "segnet_basic" else image)
    for conv_name, (low, high) in seen.items():
        if RELU[name](conv_name):
            expected = (0.0, max(high, 0.0))
        else:
            expected = (low, max(high, 0.0))
        assert ranges[conv_name] == pytest.approx(expected, rel=1e-5, abs=1e-6), conv_name
    assert any(not RELU[name](n) and ranges[n][0] < 0 for n in convs)  # some ranges are two-sided
    stacked = torch.cat(first_input)
    assert ranges["input"] == pytest.approx((float(stacked.min()), float(stacked.max())), rel=1e-5)


def test_calibrate_leaves_the_model_alone(make_float_model, make_images):
    model = make_float_model("segnet_basic", 3).train()  # train mode: a forward would move BN stats
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ranges = calibrate(model, (image for image in make_images(2, 32, 48, seed=5)))  # any iterable
    assert "input" in ranges
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 8


def test_calibrate_needs_a_batch(basic_model):
    with pytest.raises(ValueError, match="at least one"):
        calibrate(basic_model, [])
    with pytest.raises(ValueError):
        calibrate(basic_model, iter(()))


def test_quantize_model_leaves_the_model_alone(calibrated):
    model, ranges = calibrated["segnet_basic"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantize_model(model, ranges)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_unsupported_model_is_a_value_error_naming_its_class():
    assert "fcn_basic" in list_models()
    model = segnet.create_model("fcn_basic", 11).eval()
    with pytest.raises(ValueError, match="FCNBasic"):
        quantize_model(model, {"input": (0.0, 1.0)})
    with pytest.raises(ValueError, match="FCNBasic"):
        calibrate(model, [torch.randn(1, 3, 32, 32)])


def test_segnet_basic_encoder_addition_is_refused():
    """A SegNetBasic subclass with a different forward (skip additions) must not run the plain int8 graph."""
    model = segnet.create_model("segnet_basic_encoderaddition", 11).eval()
    with pytest.raises(ValueError, match="SegNetBasicEncoderAddition"):
        quantize_model(model, {"input": (0.0, 1.0)})


def test_missing_ranges_are_a_value_error(calibrated):
    model, ranges = calibrated["segnet_basic"]
    without_conv = {k: v for k, v in ranges.items() if k != "decoder.2.0"}
    with pytest.raises(ValueError, match="decoder.2.0"):
        quantize_model(model, without_conv)
    without_input = {k: v for k, v in ranges.items() if k != "input"}
    with pytest.raises(ValueError, match="input"):
        quantize_model(model, without_input)
    with pytest.raises(ValueError):  # ranges of SegNet-Basic do not fit SegNet
        quantize_model(calibrated["segnet"][0], ranges)


def test_prepare_for_inference_int8_needs_ranges(calibrated):
    model, ranges = calibrated["segnet_basic"]
    with pytest.raises(ValueError, match="segnet quantize"):
        prepare_for_inference(model, "int8")
    assert isinstance(prepare_for_inference(model, "int8", int8_ranges=ranges), Int8SegNet)


def test_resolve_precision(monkeypatch):
    with pytest.raises(ValueError, match="CPU"):
        resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="int8"):
        resolve_precision("int9", torch.device("cpu"))
    assert resolve_precision("int8", torch.device("cpu")) == "int8"
    cpu = torch.device("cpu")
    monkeypatch.setattr(optimize, "int8_kernels_available", lambda: True)
    for vnni in (True, False):  # without VNNI int8 still beats float32 (7-bit weights, 2.0x on AVX2)
        monkeypatch.setattr(optimize, "cpu_has_fast_int8", lambda: vnni)
        assert resolve_precision("auto", cpu, calibrated=True) == "int8"
        assert resolve_precision("auto", cpu, calibrated=False) in ("bf16", "fp32")
    monkeypatch.setattr(optimize, "int8_kernels_available", lambda: False)  # e.g. an ARM build
    assert resolve_precision("auto", cpu, calibrated=True) in ("bf16", "fp32")


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_is_refused_or_close_to_float32(make_float_model, make_images, name):
    """No model may be accepted and then silently run a graph other than its own."""
    model = make_float_model(name, 0)
    x = make_images(1, 32, 48, seed=7)[0]
    try:
        ranges = calibrate(model, [x])
        int8 = quantize_model(model, ranges)
    except ValueError as error:
        assert type(model).__name__ in str(error)
        return
    with torch.no_grad():
        stats = compare(int8(x), model(x))
    assert stats["relative_error"] < 0.1, stats


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-2.0, 6.0), (0.5, 3.0), (-4.0, -1.0)])
def test_grid_covers_exactly_the_calibrated_range_with_zero_on_it(low, high):
    """255 steps from the range's low end (or 0) to its high end (or 0); zero is a grid point."""
    from segnet.quantize import Grid

    grid = Grid.covering(low, high)
    lo, hi = min(low, 0.0), max(high, 0.0)
    assert grid.scale == pytest.approx((hi - lo) / 255)
    assert 0 <= grid.zero_point <= 255
    assert grid.scale * (0 - grid.zero_point) == pytest.approx(lo, abs=grid.scale / 2)
    assert grid.scale * (255 - grid.zero_point) == pytest.approx(hi, abs=grid.scale / 2)
    values = torch.tensor([lo, 0.0, hi])
    q = grid.quantize(values.view(1, 3, 1, 1)).view(-1)
    assert q.tolist() == [0, grid.zero_point, 255]
