"""The compact pooling pair is pinned to torch's max_pool2d / max_unpool2d."""

import pytest
import torch
import torch.nn.functional as F

from segnet.models.pooling import (
    compact_max_pool2d,
    compact_max_unpool2d,
    pack_positions,
    positions_to_flat_indices,
    unpack_positions,
)

SHAPES = [(2, 3, 8, 10), (1, 2, 7, 9), (1, 1, 5, 4), (2, 2, 1, 1), (1, 3, 2, 3), (1, 4, 45, 60), (1, 2, 23, 30)]


def torch_pool(x):
    return F.max_pool2d(x, 2, 2, ceil_mode=True, return_indices=True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["random", "ties", "constant"])
def test_forward_values_and_positions_match_torch(shape, kind):
    g = torch.Generator().manual_seed(sum(shape))
    if kind == "random":
        x = torch.randn(*shape, generator=g)
    elif kind == "ties":
        x = torch.randint(0, 2, shape, generator=g).float()
    else:
        x = torch.full(shape, -3.0)
    pooled, indices = compact_max_pool2d(x)
    ref_pooled, ref_indices = torch_pool(x)
    assert torch.equal(pooled, ref_pooled)
    assert torch.equal(positions_to_flat_indices(indices), ref_indices)
    unpooled = compact_max_unpool2d(pooled, indices)
    ref_unpooled = F.max_unpool2d(ref_pooled, ref_indices, 2, 2, output_size=shape[-2:])
    assert torch.equal(unpooled, ref_unpooled)


@pytest.mark.parametrize("shape", SHAPES[:5])
def test_gradients_match_torch(shape):
    x = torch.randint(-2, 3, shape).double().requires_grad_()  # many ties
    pooled, indices = compact_max_pool2d(x)
    ref_pooled, ref_indices = torch_pool(x)
    grad = torch.randn_like(pooled)
    (gx,) = torch.autograd.grad(pooled, x, grad)
    (ref_gx,) = torch.autograd.grad(ref_pooled, x, grad)
    assert torch.equal(gx, ref_gx)

    values = pooled.detach().requires_grad_()
    ref_values = values.detach().clone().requires_grad_()
    out = compact_max_unpool2d(values, indices)
    ref_out = F.max_unpool2d(ref_values, ref_indices, 2, 2, output_size=shape[-2:])
    grad_out = torch.randn_like(out)
    (gv,) = torch.autograd.grad(out, values, grad_out)
    (ref_gv,) = torch.autograd.grad(ref_out, ref_values, grad_out)
    assert torch.equal(gv, ref_gv)


@pytest.mark.parametrize("shape", [(1, 2, 5, 7), (2, 1, 6, 4)])
def test_gradcheck_float64(shape):
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: compact_max_pool2d(v)[0], (x,))
    _, indices = compact_max_pool2d(x.detach())
    values = torch.randn(indices.pooled_shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: compact_max_unpool2d(v, indices), (values,))
    assert torch.autograd.gradgradcheck(lambda v: compact_max_unpool2d(v, indices), (values,))


def test_positions_take_two_bits():
    x = torch.randn(2, 64, 90, 120)
    _, indices = compact_max_pool2d(x)
    pooled_numel = 2 * 64 * 45 * 60
    assert indices.packed.dtype == torch.uint8
    assert indices.nbytes == pooled_numel // 4  # 2 bits each, vs 8 bytes for int64
    positions = indices.positions()
    assert positions.shape == (2, 64, 45, 60) and int(positions.max()) <= 3


@pytest.mark.parametrize("numel", [1, 3, 4, 5, 17])
def test_pack_roundtrip(numel):
    codes = torch.randint(0, 4, (numel,), dtype=torch.uint8)
    assert torch.equal(unpack_positions(pack_positions(codes), (numel,)), codes)


def test_channels_last_and_bfloat16_match_torch():
    x = torch.randn(1, 8, 13, 10).to(memory_format=torch.channels_last)
    for tensor in (x, x.bfloat16()):
        pooled, indices = compact_max_pool2d(tensor)
        ref_pooled, ref_indices = torch_pool(tensor)
        assert torch.equal(pooled, ref_pooled)
        assert torch.equal(positions_to_flat_indices(indices), ref_indices)
        assert torch.equal(
            compact_max_unpool2d(pooled, indices),
            F.max_unpool2d(ref_pooled, ref_indices, 2, 2, output_size=tensor.shape[-2:]),
        )


def test_unpool_rejects_mismatched_values():
    _, indices = compact_max_pool2d(torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="indices recorded for"):
        compact_max_unpool2d(torch.randn(1, 2, 3, 3), indices)


@pytest.mark.parametrize("shape", [(2, 8, 13, 10), (1, 16, 6, 8)])
def test_gradients_of_channels_last_inputs_match_torch(shape):
    """Backward through pool and unpool on a channels-last tensor, against max_pool2d's on the same."""
    torch.manual_seed(0)
    base = torch.randn(*shape).to(memory_format=torch.channels_last)
    ours, theirs = base.clone().requires_grad_(True), base.clone().requires_grad_(True)
    pooled, indices = compact_max_pool2d(ours)
    ref_pooled, ref_indices = torch_pool(theirs)
    weight = torch.randn(pooled.shape)
    out = compact_max_unpool2d(pooled * 2, indices)
    ref = F.max_unpool2d(ref_pooled * 2, ref_indices, 2, 2, output_size=shape[-2:])
    upstream = torch.randn(shape)
    ((pooled * weight).sum() + (out * upstream).sum()).backward()
    ((ref_pooled * weight).sum() + (ref * upstream).sum()).backward()
    assert ours.grad.is_contiguous(memory_format=torch.channels_last) or ours.grad.is_contiguous()
    assert torch.equal(ours.grad, theirs.grad)


@pytest.mark.parametrize("shape", [(1, 64, 9, 12), (2, 3, 7, 9), (1, 16, 23, 30)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("fill", [0, 1, 131, 255])
def test_uint8_maps_and_nonzero_fill_match_torch(shape, channels_last, fill):
    """The int8 path pools uint8 maps and unpools them onto their zero point: values, positions
    (ties included) and the filled map equal torch's on a float copy, wherever fill sits in 0..255."""
    g = torch.Generator().manual_seed(fill + shape[1])
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    x[..., ::3, :] = 7  # runs of equal values: ties must go to the first in row-major order
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    pooled, indices = compact_max_pool2d(x)
    ref_pooled, ref_indices = torch_pool(x.float())
    assert pooled.dtype == torch.uint8 and torch.equal(pooled.float(), ref_pooled)
    assert torch.equal(positions_to_flat_indices(indices), ref_indices)
    unpooled = compact_max_unpool2d(pooled, indices, fill=fill)
    ones = F.max_unpool2d(torch.ones_like(ref_pooled), ref_indices, 2, 2, output_size=shape[-2:])
    values = F.max_unpool2d(ref_pooled, ref_indices, 2, 2, output_size=shape[-2:])
    reference = torch.where(ones.bool(), values, torch.full_like(values, fill))
    assert unpooled.dtype == torch.uint8 and torch.equal(unpooled.float(), reference)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_float_unpool_with_fill_and_negative_values(dtype):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 8, 10, generator=g).to(dtype)
    pooled, indices = compact_max_pool2d(x)
    ref_pooled, ref_indices = torch_pool(x)
    ones = F.max_unpool2d(torch.ones_like(ref_pooled), ref_indices, 2, 2, output_size=(8, 10)).bool()
    for fill in (0.0, -1.5):
        reference = torch.where(ones, F.max_unpool2d(ref_pooled, ref_indices, 2, 2, output_size=(8, 10)),
                                torch.full_like(x, fill))
        assert torch.equal(compact_max_unpool2d(pooled, indices, fill=fill), reference)
