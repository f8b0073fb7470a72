"""Compact pooling on uint8 maps (the int8 path's activations) is pinned to the float32 path and torch.

Max-pooling commutes with a monotone quantisation only if uint8 picks the same winners as float32,
ties and the ceil-mode edge included; unpooling must fill with the zero point, not with 0.
"""

import pytest
import torch
import torch.nn.functional as F

from segnet.models.pooling import compact_max_pool2d, compact_max_unpool2d, positions_to_flat_indices

SHAPES = [(2, 8, 8, 10), (1, 5, 7, 9), (1, 3, 45, 61), (2, 4, 1, 3), (1, 16, 23, 30)]


def uint8_map(shape, kind: str, seed: int, channels_last: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        q = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    elif kind == "ties":  # mostly equal values, zeros (the padding value) and the top of the range
        q = torch.tensor([0, 255, 7], dtype=torch.uint8)[torch.randint(0, 3, shape, generator=g)]
    else:
        q = torch.zeros(shape, dtype=torch.uint8)
    return q.contiguous(memory_format=torch.channels_last) if channels_last else q


def torch_pool(x: torch.Tensor):
    return F.max_pool2d(x, 2, 2, ceil_mode=True, return_indices=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["random", "ties", "zeros"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_uint8_pooling_matches_float32_and_torch(shape, kind, channels_last):
    q = uint8_map(shape, kind, sum(shape), channels_last)
    pooled, indices = compact_max_pool2d(q)
    assert pooled.dtype == torch.uint8
    if channels_last:  # the int8 convs read channels-last: pooling must not reorder the map
        assert pooled.is_contiguous(memory_format=torch.channels_last)

    as_float = q.float()  # same values, same memory layout
    float_pooled, float_indices = compact_max_pool2d(as_float)
    ref_pooled, ref_flat = torch_pool(q.float().contiguous())
    assert torch.equal(pooled.float(), float_pooled)
    assert torch.equal(pooled.float(), ref_pooled)
    assert torch.equal(indices.positions(), float_indices.positions())
    assert torch.equal(positions_to_flat_indices(indices), ref_flat)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("fill", [0, 37, 255])
def test_uint8_unpooling_fills_with_the_zero_point(shape, channels_last, fill):
    q = uint8_map(shape, "random", 7 + sum(shape), channels_last)
    _, indices = compact_max_pool2d(q)
    # Values unrelated to the pooled ones, so placement is checked on its own.
    values = uint8_map(indices.pooled_shape, "random", 99, channels_last)
    out = compact_max_unpool2d(values, indices, fill=fill)
    assert out.dtype == torch.uint8 and tuple(out.shape) == shape

    _, ref_flat = torch_pool(q.float().contiguous())
    placed = F.max_unpool2d(values.float().contiguous(), ref_flat, 2, 2, output_size=shape[-2:])
    recorded = F.max_unpool2d(torch.ones(indices.pooled_shape), ref_flat, 2, 2, output_size=shape[-2:]) > 0
    expected = torch.where(recorded, placed, torch.tensor(float(fill)))
    assert torch.equal(out.float(), expected)
    # Exactly one recorded position per pooled value (windows never overlap).
    assert int(recorded.sum()) == values.numel()


def test_pooling_commutes_with_quantisation():
    """Pooling a quantised map = quantising the pooled float map (the premise of segnet.quantize)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 13, 17, generator=g).contiguous(memory_format=torch.channels_last)
    scale, zero_point = 0.02, 90
    quantize = lambda t: torch.round(t / scale).add(zero_point).clamp(0, 255).to(torch.uint8)  # noqa: E731
    pooled_q, _ = compact_max_pool2d(quantize(x))
    pooled_f, _ = compact_max_pool2d(x)
    assert torch.equal(pooled_q, quantize(pooled_f))
