"""The uint8 grid and one int8 conv, pinned to a float64 reference computed by hand.

Grid: zero exact, round trip within half a step, clamping outside. QuantizedConv2d: dequantised
uint8 input, per-output-channel symmetric weights (scale = amax/127 on a CPU with VNNI, amax/63
without), float64 conv + bias (+ ReLU), requantised to the target grid: the oneDNN kernel must
agree within 1 LSB.
"""

import pytest
import torch
import torch.nn.functional as F

from segnet.optimize import cpu_has_fast_int8, int8_kernels_available
from segnet.quantize import Grid, QuantizedConv2d, weight_levels

requires_int8 = pytest.mark.skipif(not int8_kernels_available(),
                                   reason="this torch build has no oneDNN int8 conv (x86 CPU builds do)")

RANGES = [(-1.0, 2.0), (0.0, 6.0), (-3.5, 0.0), (0.3, 4.0), (-5.0, -0.5), (-1e-3, 250.0), (-0.07, 0.02)]


def dequantize(grid: Grid, q: torch.Tensor) -> torch.Tensor:
    return grid.scale * (q.double() - grid.zero_point)


@pytest.mark.parametrize("low, high", RANGES)
def test_grid_zero_is_exact(low, high):
    grid = Grid.covering(low, high)
    assert 0 <= grid.zero_point <= 255
    q = grid.quantize(torch.zeros(1, 2, 3, 4))  # maps only: NCHW
    assert q.dtype == torch.uint8 and torch.all(q == grid.zero_point)
    assert torch.all(dequantize(grid, q) == 0)


@pytest.mark.parametrize("low, high", RANGES)
def test_grid_round_trip_within_half_a_step_and_clamps_outside(low, high):
    grid = Grid.covering(low, high)
    lo, hi = min(low, 0.0), max(high, 0.0)
    x = torch.cat([torch.linspace(lo, hi, 2001), torch.tensor([lo, hi, 0.0])]).view(1, 1, 1, -1)
    q = grid.quantize(x)
    error = (dequantize(grid, q) - x.double()).abs().max().item()
    assert error <= grid.scale / 2 * (1 + 1e-4), (error, grid)
    # A grid of 256 levels: the whole range is used, no wasted step.
    assert abs(grid.scale * 255 - (hi - lo)) <= 1e-6 * (hi - lo)
    below = grid.quantize(torch.full((1, 1, 1, 3), lo - 10 * (hi - lo)))
    above = grid.quantize(torch.full((1, 1, 1, 3), hi + 10 * (hi - lo)))
    assert torch.all(below == 0) and torch.all(above == 255)


def test_grid_quantize_returns_channels_last_uint8():
    q = Grid.covering(-1, 1).quantize(torch.randn(2, 3, 5, 7))
    assert q.dtype == torch.uint8 and q.is_contiguous(memory_format=torch.channels_last)


def reference(conv: torch.nn.Conv2d, source: Grid, q: torch.Tensor, relu: bool, levels: int) -> torch.Tensor:
    """Float64 conv of the dequantised input with per-channel symmetric fake-quantised weights.

    The weights are rounded to their grid in float32, as a float32 model's are: in float64 a weight
    within an ulp of a half step can round the other way, and the check would see one int8 step times
    an input (up to 255) as a kernel error (session 22, an AVX-512 EPYC: one tap of one channel)."""
    weight = conv.weight.detach().float()
    scale = (weight.abs().amax(dim=(1, 2, 3), keepdim=True) / levels).clamp_min(1e-12)
    weight = torch.round(weight / scale).clamp(-levels - 1, levels).double() * scale.double()
    bias = None if conv.bias is None else conv.bias.detach().double()
    y = F.conv2d(dequantize(source, q), weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    return y.relu() if relu else y


CASES = [  # in, out, kernel, padding, stride, groups, HxW, bias, relu, source grid
    (3, 16, 7, 3, 1, 1, (13, 17), True, True, (-2.1, 2.6)),  # SegNet-Basic's first conv
    (64, 64, 7, 3, 1, 1, (12, 15), True, False, (-1.0, 2.0)),  # its decoder convs: no ReLU
    (64, 64, 7, 3, 1, 64, (9, 11), True, False, (-1.0, 2.0)),  # the single-channel decoder (depthwise)
    (16, 32, 3, 1, 1, 1, (10, 9), True, True, (0.0, 3.0)),  # SegNet's 3x3 convs on a ReLU'd map
    (8, 5, 3, 1, 2, 1, (9, 8), False, True, (-0.5, 0.5)),  # stride 2, no bias
    (64, 11, 1, 0, 1, 1, (10, 10), True, False, (0.0, 1.0)),  # the classifier
]


# 8-bit weights are exact only where int8 dot products are native; 7-bit ones everywhere.
LEVELS = [63, pytest.param(127, marks=pytest.mark.skipif(
    not cpu_has_fast_int8(), reason="8-bit weights saturate AVX2's int16 pair sums; this CPU has no VNNI"))]


@requires_int8
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}to{c[1]}k{c[2]}s{c[4]}g{c[5]}")
@pytest.mark.parametrize("narrow", [False, True], ids=["fits", "clamps"])
@pytest.mark.parametrize("levels", LEVELS, ids=lambda n: f"w{n}")
def test_quantized_conv_matches_float64_reference(case, narrow, levels):
    cin, cout, k, pad, stride, groups, size, bias, relu, source_range = case
    torch.manual_seed(cin * 7 + cout)
    conv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad, groups=groups, bias=bias)
    with torch.no_grad():  # channels of very different magnitude: per-channel scales matter
        conv.weight.mul_(torch.logspace(-1, 1, cout).view(-1, 1, 1, 1))
    source = Grid.covering(*source_range)
    q = torch.randint(0, 256, (2, cin, *size), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    expected_float = reference(conv, source, q, relu, levels)
    low, high = float(expected_float.min()), float(expected_float.max())
    target = Grid.covering(low / 2, high / 2) if narrow else Grid.covering(low, high)
    expected = torch.round(expected_float / target.scale).add(target.zero_point).clamp(0, 255)

    out = QuantizedConv2d(conv, source, target, relu, levels)(q)
    assert out.dtype == torch.uint8 and out.shape == expected.shape
    diff = (out.double() - expected).abs()
    assert diff.max() <= 1, diff.max()
    assert (diff == 0).double().mean() >= 0.99
    if narrow:
        assert (out == 255).any()  # the clamping was exercised

    logits = QuantizedConv2d(conv, source, None, relu, levels)(q)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits.double(), expected_float, rtol=1e-5,
                               atol=1e-5 * float(expected_float.abs().max()))


def test_weights_get_8_bits_only_where_int8_products_are_native(monkeypatch):
    import segnet.quantize as quantize
    for native, levels in ((True, 127), (False, 63)):
        monkeypatch.setattr(quantize, "cpu_has_fast_int8", lambda: native)
        assert quantize.weight_levels() == levels


@requires_int8
def test_the_default_weight_grid_is_exact_on_this_cpu():
    """What a model loaded here gets (levels=None) agrees with the reference at this CPU's levels."""
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(64, 64, 7, padding=3)
    source = Grid.covering(0.0, 255.0)  # the worst case for pair sums: every input near 255
    q = torch.randint(200, 256, (1, 64, 9, 11), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    expected = reference(conv, source, q, False, weight_levels())
    logits = QuantizedConv2d(conv, source, None, False)(q)
    torch.testing.assert_close(logits.double(), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


@requires_int8
def test_quantized_conv_reads_contiguous_input_too():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, 7, padding=3)
    source, target = Grid.covering(-1, 1), Grid.covering(-4, 4)
    q = torch.randint(0, 256, (1, 3, 11, 13), dtype=torch.uint8)
    layer = QuantizedConv2d(conv, source, target, False)
    assert torch.equal(layer(q), layer(q.contiguous(memory_format=torch.channels_last)))
