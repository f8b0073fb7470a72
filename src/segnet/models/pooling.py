"""Max-pooling that remembers only *where* each maximum was, in 2 bits.

The SegNet decoder upsamples with its encoder's pooling positions. Inside a 2x2 window there are
four candidate positions, so each pooled value needs 2 bits (the paper's point), not the 8-byte
flat index that ``max_pool2d(return_indices=True)`` stores. This module computes the window
position by comparing the window's four values with the pooled maximum, packs four positions per
byte, and unpools by writing each parity plane of the output directly. It never creates an int64
index map; the only integer/boolean tensors are byte-sized and at most pooled-map sized.

Pooling rounds up (``ceil_mode=True``) like the original Caffe SegNet, so odd sizes keep their
last row/column: a 360x480 input pools to 180x240, 90x120, 45x60, 23x30, 12x15.

Ties go to the first maximum in row-major window order, as in torch's own kernel, so values,
positions and gradients agree with ``max_pool2d``/``max_unpool2d``. (NaN inputs are not matched.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "PoolIndices",
    "compact_max_pool2d",
    "compact_max_unpool2d",
    "pack_positions",
    "unpack_positions",
    "positions_to_flat_indices",
    "MaxPool2x2",
    "MaxUnpool2x2",
]

# Offsets (row, col) of window positions 0..3 in row-major order.
_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))


@dataclass(frozen=True)
class PoolIndices:
    """Window positions of one pooling layer: 2-bit codes packed four to a byte.

    ``packed`` holds ceil(numel/4) bytes; ``pooled_shape`` is (N, C, h, w) of the pooled map and
    ``input_size`` the (H, W) before pooling, which the unpooling restores exactly.
    """

    packed: Tensor
    pooled_shape: tuple[int, int, int, int]
    input_size: tuple[int, int]

    @property
    def nbytes(self) -> int:
        return self.packed.numel() * self.packed.element_size()

    def positions(self) -> Tensor:
        """The window positions (0..3, uint8) in the pooled map's shape."""
        return unpack_positions(self.packed, self.pooled_shape)


def pack_positions(positions: Tensor) -> Tensor:
    """Pack uint8 codes in 0..3 four to a byte (flattened, row-major)."""
    flat = positions.reshape(-1)
    remainder = flat.numel() % 4
    if remainder:
        flat = torch.cat([flat, flat.new_zeros(4 - remainder)])
    quads = flat.view(-1, 4)
    packed = quads[:, 0].clone()
    packed |= quads[:, 1] << 2
    packed |= quads[:, 2] << 4
    packed |= quads[:, 3] << 6
    return packed


def unpack_positions(packed: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Inverse of :func:`pack_positions`: uint8 codes 0..3 of the given shape."""
    quads = torch.empty((packed.numel(), 4), dtype=torch.uint8, device=packed.device)
    for slot in range(4):
        torch.bitwise_and(packed >> (2 * slot), 3, out=quads[:, slot])
    numel = 1
    for size in shape:
        numel *= size
    return quads.view(-1)[:numel].view(shape)


def _memory_format(x: Tensor) -> torch.memory_format:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _window_max(x: Tensor) -> Tensor:
    """Ceil-mode 2x2 maximum from the four strided parity views.

    ``F.max_pool2d`` is not used because its CPU kernel computes int64 indices internally even
    when none are asked for.
    """
    height, width = x.shape[-2:]
    full_rows, full_cols = height // 2, width // 2
    top_left = x[..., 0::2, 0::2]
    pooled = torch.empty_like(top_left, memory_format=_memory_format(x))
    pooled.copy_(top_left)
    for view, rows, cols in (
        (x[..., 0::2, 1::2], slice(None), slice(None, full_cols)),
        (x[..., 1::2, 0::2], slice(None, full_rows), slice(None)),
        (x[..., 1::2, 1::2], slice(None, full_rows), slice(None, full_cols)),
    ):
        target = pooled[..., rows, cols]
        torch.maximum(target, view, out=target)
    return pooled


def _window_positions(x: Tensor, pooled: Tensor) -> Tensor:
    """Position (0..3, uint8) of the first maximum of each 2x2 window.

    code = [x0 != m] + [x0 != m and x1 != m] + [x0, x1, x2 all != m]: the index of the first
    window value equal to the maximum. Border windows of odd sizes lack some positions; those
    count as "not the maximum" (torch pads them with -inf).
    """
    height, width = x.shape[-2:]
    full_rows, full_cols = height // 2, width // 2
    not_max = torch.ne(x[..., 0::2, 0::2], pooled)
    code = not_max.to(torch.uint8)
    # Position 1: top-right, present in all rows but only the first `full_cols` columns.
    right = not_max[..., :, :full_cols]
    right &= torch.ne(x[..., 0::2, 1::2], pooled[..., :, :full_cols])
    code += not_max
    # Position 2: bottom-left, present in the first `full_rows` rows only.
    bottom = not_max[..., :full_rows, :]
    bottom &= torch.ne(x[..., 1::2, 0::2], pooled[..., :full_rows, :])
    code += not_max
    return code


class _CompactMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        pooled = _window_max(x)
        packed = pack_positions(_window_positions(x, pooled))
        ctx.mark_non_differentiable(packed)
        ctx.save_for_backward(packed)
        ctx.pooled_shape = tuple(pooled.shape)
        ctx.input_size = tuple(x.shape[-2:])
        return pooled, packed

    @staticmethod
    def backward(ctx, grad_pooled: Tensor, _grad_packed: Tensor | None):  # type: ignore[override]
        (packed,) = ctx.saved_tensors
        indices = PoolIndices(packed, ctx.pooled_shape, ctx.input_size)
        # The gradient of max-pooling routes each pooled gradient to its argmax: an unpooling.
        return compact_max_unpool2d(grad_pooled, indices)


class _CompactMaxUnpool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: Tensor, packed: Tensor, pooled_shape, input_size):  # type: ignore[override]
        positions = unpack_positions(packed, pooled_shape)
        ctx.save_for_backward(packed)
        ctx.pooled_shape = pooled_shape
        ctx.input_size = input_size
        return _scatter_to_windows(values, positions, input_size)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (packed,) = ctx.saved_tensors
        indices = PoolIndices(packed, ctx.pooled_shape, ctx.input_size)
        return _GatherFromWindows.apply(grad_out, indices), None, None, None


class _GatherFromWindows(torch.autograd.Function):
    """Adjoint of unpooling: read each window's value at its stored position."""

    @staticmethod
    def forward(ctx, full: Tensor, indices: PoolIndices) -> Tensor:  # type: ignore[override]
        ctx.indices = indices
        return _gather_from_windows(full, indices.positions())

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return compact_max_unpool2d(grad, ctx.indices), None


def _parity_slices(size: tuple[int, int], offset: tuple[int, int]) -> tuple[slice, slice, int, int]:
    """Slices of the full map at one window offset, and how many pooled rows/cols they cover."""
    height, width = size
    dy, dx = offset
    rows = (height - dy + 1) // 2
    cols = (width - dx + 1) // 2
    return slice(dy, None, 2), slice(dx, None, 2), rows, cols


def _scatter_to_windows(values: Tensor, positions: Tensor, input_size: tuple[int, int]) -> Tensor:
    out = torch.empty(
        (*values.shape[:-2], *input_size),
        dtype=values.dtype,
        device=values.device,
        memory_format=_memory_format(values),
    )
    zero = values.new_zeros(())
    for code, offset in enumerate(_OFFSETS):
        row_slice, col_slice, rows, cols = _parity_slices(input_size, offset)
        if rows == 0 or cols == 0:
            continue
        mask = positions[..., :rows, :cols] == code
        torch.where(mask, values[..., :rows, :cols], zero, out=out[..., row_slice, col_slice])
    return out


def _gather_from_windows(full: Tensor, positions: Tensor) -> Tensor:
    input_size = tuple(full.shape[-2:])
    out = torch.zeros(
        (*full.shape[:-2], *positions.shape[-2:]), dtype=full.dtype, device=full.device
    )
    for code, offset in enumerate(_OFFSETS):
        row_slice, col_slice, rows, cols = _parity_slices(input_size, offset)
        if rows == 0 or cols == 0:
            continue
        mask = positions[..., :rows, :cols] == code
        target = out[..., :rows, :cols]
        target.copy_(torch.where(mask, full[..., row_slice, col_slice], target))
    return out


def compact_max_pool2d(x: Tensor) -> tuple[Tensor, PoolIndices]:
    """2x2/2 ceil-mode max-pooling returning pooled values and 2-bit window positions."""
    if x.dim() != 4:
        raise ValueError(f"compact_max_pool2d expects an NCHW tensor, got shape {tuple(x.shape)}")
    pooled, packed = _CompactMaxPool.apply(x)
    return pooled, PoolIndices(packed, tuple(pooled.shape), tuple(x.shape[-2:]))


def compact_max_unpool2d(values: Tensor, indices: PoolIndices) -> Tensor:
    """Place each value at its window position in a zero map of the pre-pooling size."""
    if tuple(values.shape) != indices.pooled_shape:
        raise ValueError(
            f"unpooling values of shape {tuple(values.shape)} with indices recorded for "
            f"{indices.pooled_shape}"
        )
    return _CompactMaxUnpool.apply(
        values, indices.packed, indices.pooled_shape, indices.input_size
    )


def positions_to_flat_indices(indices: PoolIndices) -> Tensor:
    """torch's int64 flat indices (h*W + w) for comparison and export; not used by the models."""
    positions = indices.positions().long()
    _, _, rows, cols = indices.pooled_shape
    width = indices.input_size[1]
    row = torch.arange(rows, device=positions.device).view(-1, 1) * 2 + positions // 2
    col = torch.arange(cols, device=positions.device).view(1, -1) * 2 + positions % 2
    return row * width + col


class MaxPool2x2(nn.Module):
    """2x2/2 ceil-mode max-pool that also returns where each maximum came from.

    ``compact=True`` (default) keeps 2-bit positions (:class:`PoolIndices`); ``compact=False``
    uses torch's ``max_pool2d`` with int64 indices, the straightforward reference (and the form
    that ONNX exporters understand).
    """

    def __init__(self, compact: bool = True) -> None:
        super().__init__()
        self.compact = compact

    def forward(self, x: Tensor) -> tuple[Tensor, PoolIndices | Tensor]:
        if self.compact:
            return compact_max_pool2d(x)
        return F.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=True, return_indices=True)

    def extra_repr(self) -> str:
        return f"compact={self.compact}"


class MaxUnpool2x2(nn.Module):
    """Inverse of :class:`MaxPool2x2`: sparse upsampling to the exact pre-pool size."""

    def forward(
        self, x: Tensor, indices: PoolIndices | Tensor, output_size: tuple[int, int]
    ) -> Tensor:
        if isinstance(indices, PoolIndices):
            return compact_max_unpool2d(x, indices)
        # output_size is required: without it 23x30 -> 46x60 instead of 45x60 (crash at 360x480).
        return F.max_unpool2d(x, indices, kernel_size=2, stride=2, output_size=output_size)
