"""Max-pooling that remembers only *where* each maximum was, in 2 bits.

The SegNet decoder upsamples with its encoder's pooling positions. Inside a 2x2 window there are
four candidate positions, so each pooled value needs 2 bits (the paper's point), not the 8-byte
flat index that ``max_pool2d(return_indices=True)`` stores. This module views the map as 2x2
windows in its own memory order (NCHW or channels-last), finds the winner with three
comparisons, packs four positions per byte, and unpools by writing each window plane of the
output directly. It never creates an int64 index map (``F.max_pool2d`` makes one internally even
without ``return_indices``, so it is not used); the only integer/boolean tensors are byte-sized
and at most pooled-map sized.

Pooling rounds up (``ceil_mode=True``) like the original Caffe SegNet, so odd sizes keep their
last row/column: a 360x480 input pools to 180x240, 90x120, 45x60, 23x30, 12x15.

Ties go to the first maximum in row-major window order, as in torch's own kernel, so values,
positions and gradients agree with ``max_pool2d``/``max_unpool2d``. (NaN inputs are not matched.)
"""

from __future__ import annotations

from collections.abc import Iterator
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
    channels_last: bool = False  # codes packed in (N, h, w, C) order, as the feature map lies

    @property
    def nbytes(self) -> int:
        return self.packed.numel() * self.packed.element_size()

    def physical_positions(self) -> Tensor:
        """Positions in memory order: (N, h, w, C) if channels-last, else (N, C, h, w)."""
        n, c, rows, cols = self.pooled_shape
        shape = (n, rows, cols, c) if self.channels_last else (n, c, rows, cols)
        return unpack_positions(self.packed, shape)

    def positions(self) -> Tensor:
        """The window positions (0..3, uint8) in the pooled map's (N, C, h, w) shape."""
        return _to_logical(self.physical_positions(), self.channels_last)


def pack_positions(positions: Tensor) -> Tensor:
    """Pack uint8 codes in 0..3 four to a byte.

    The flat codes are cut into four contiguous quarters and byte i holds code i of each quarter
    (bits 0-1, 2-3, 4-5, 6-7): every operation then runs on contiguous memory and vectorises.
    """
    flat = positions.reshape(-1)
    quarter = -(-flat.numel() // 4)
    if flat.numel() != 4 * quarter:
        flat = torch.cat([flat, flat.new_zeros(4 * quarter - flat.numel())])
    planes = flat.view(4, quarter)
    packed = planes[3] << 6
    for slot in (2, 1, 0):
        if slot:
            packed |= planes[slot] << (2 * slot)
        else:
            packed |= planes[0]
    return packed


def unpack_positions(packed: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Inverse of :func:`pack_positions`: uint8 codes 0..3 of the given shape (memory order)."""
    planes = torch.empty((4, packed.numel()), dtype=torch.uint8, device=packed.device)
    for slot in range(4):
        torch.bitwise_and(packed >> (2 * slot) if slot else packed, 3, out=planes[slot])
    numel = 1
    for size in shape:
        numel *= size
    return planes.view(-1)[:numel].view(shape)


def _is_channels_last(x: Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _windows(x: Tensor, channels_last: bool) -> Tensor:
    """View an even-sized map as windows: (N, h, 2, w, 2, C) for channels-last, else (N, C, h, 2, w, 2).

    Both keep the memory order, so the four window planes below are plain strided views.
    """
    n, c, height, width = x.shape
    if channels_last:
        return x.permute(0, 2, 3, 1).view(n, height // 2, 2, width // 2, 2, c)
    return x.view(n, c, height // 2, 2, width // 2, 2)


def _plane(windows: Tensor, dy: int, dx: int, channels_last: bool) -> Tensor:
    return windows[:, :, dy, :, dx, :] if channels_last else windows[:, :, :, dy, :, dx]


def _to_logical(t: Tensor, channels_last: bool) -> Tensor:
    """(N, h, w, C) physical -> (N, C, h, w) logical view for channels-last; identity otherwise."""
    return t.permute(0, 3, 1, 2) if channels_last else t


def _from_logical(t: Tensor, channels_last: bool) -> Tensor:
    return t.permute(0, 2, 3, 1) if channels_last else t


def _pad_to_even(x: Tensor, value: float, channels_last: bool) -> Tensor:
    """Ceil mode: an odd last row/column gets a padding that can never be the maximum."""
    height, width = x.shape[-2:]
    if height % 2 == 0 and width % 2 == 0:
        return x
    padded = F.pad(x, (0, width % 2, 0, height % 2), value=value)
    return padded.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _pool_with_positions(x: Tensor) -> tuple[Tensor, Tensor, bool]:
    """Window maxima (logical NCHW), their positions (uint8, physical order) and the layout.

    Position = 2*[bottom row wins] + [right column wins in the winning row], where a later
    candidate wins only if strictly greater: the first maximum in row-major order, like torch.
    Peak integer memory is three pooled-size byte maps (the bool temporaries below).
    """
    channels_last = _is_channels_last(x)
    if not channels_last and not x.is_contiguous():
        x = x.contiguous()
    lowest = float("-inf") if x.is_floating_point() else torch.iinfo(x.dtype).min
    windows = _windows(_pad_to_even(x, lowest, channels_last), channels_last)
    top_left, top_right = _plane(windows, 0, 0, channels_last), _plane(windows, 0, 1, channels_last)
    bottom_left, bottom_right = _plane(windows, 1, 0, channels_last), _plane(windows, 1, 1, channels_last)
    right_wins = torch.gt(top_right, top_left)
    top = torch.maximum(top_left, top_right)
    right_wins_bottom = torch.gt(bottom_right, bottom_left)
    bottom = torch.maximum(bottom_left, bottom_right)
    bottom_wins = torch.gt(bottom, top)
    pooled = torch.maximum(top, bottom)
    del top, bottom
    # Pick the winning row's column bit and add the row bit, in uint8 bit arithmetic: where() on
    # bool maps costs about ten times as much on CPU.
    right, right_bottom, bottom_bit = (t.view(torch.uint8) for t in (right_wins, right_wins_bottom, bottom_wins))
    positions = right_bottom.bitwise_xor_(right).bitwise_and_(bottom_bit).bitwise_xor_(right)
    positions.bitwise_or_(bottom_bit.bitwise_left_shift_(1))
    return _to_logical(pooled, channels_last), positions, channels_last


class _CompactMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        pooled, positions, channels_last = _pool_with_positions(x)
        packed = pack_positions(positions)
        ctx.mark_non_differentiable(packed)
        ctx.save_for_backward(packed)
        ctx.meta = (tuple(pooled.shape), tuple(x.shape[-2:]), channels_last)
        return pooled, packed

    @staticmethod
    def backward(ctx, grad_pooled: Tensor, _grad_packed: Tensor | None):  # type: ignore[override]
        (packed,) = ctx.saved_tensors
        # The gradient of max-pooling routes each pooled gradient to its argmax: an unpooling.
        return compact_max_unpool2d(grad_pooled, PoolIndices(packed, *ctx.meta))


class _CompactMaxUnpool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: Tensor, packed: Tensor, pooled_shape, input_size, channels_last, fill):  # type: ignore[override]
        ctx.save_for_backward(packed)
        ctx.meta = (pooled_shape, input_size, channels_last)
        return _scatter_to_windows(values, PoolIndices(packed, pooled_shape, input_size, channels_last), fill)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (packed,) = ctx.saved_tensors
        indices = PoolIndices(packed, *ctx.meta)
        return _GatherFromWindows.apply(grad_out, indices), None, None, None, None, None


class _GatherFromWindows(torch.autograd.Function):
    """Adjoint of unpooling: read each window's value at its stored position."""

    @staticmethod
    def forward(ctx, full: Tensor, indices: PoolIndices) -> Tensor:  # type: ignore[override]
        ctx.indices = indices
        return _gather_from_windows(full, indices)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return compact_max_unpool2d(grad, ctx.indices), None


def _scatter_to_windows(values: Tensor, indices: PoolIndices, fill: float = 0) -> Tensor:
    channels_last = indices.channels_last
    n, c, rows, cols = indices.pooled_shape
    positions = indices.physical_positions()
    source = _from_logical(values, channels_last)
    shape = (n, rows, 2, cols, 2, c) if channels_last else (n, c, rows, 2, cols, 2)
    out = torch.empty(shape, dtype=values.dtype, device=values.device)
    if values.is_floating_point() and fill == 0:  # value x 0/1 mask (NaN/inf would leak; see the module doc)
        for code, mask in enumerate(_window_masks(positions, values.dtype)):
            torch.mul(source, mask, out=_plane(out, *_OFFSETS[code], channels_last))
    elif values.dtype == torch.uint8:  # fill + (value - fill) x mask, exact in uint8's wrap-around arithmetic
        shifted, background = source - fill, values.new_full((), fill)
        for code, mask in enumerate(_window_masks(positions, torch.uint8)):
            torch.addcmul(background, shifted, mask, out=_plane(out, *_OFFSETS[code], channels_last))
    else:
        background = values.new_full((), fill)
        for code, (dy, dx) in enumerate(_OFFSETS):
            torch.where(positions == code, source, background, out=_plane(out, dy, dx, channels_last))
    if channels_last:
        full = out.view(n, rows * 2, cols * 2, c).permute(0, 3, 1, 2)
    else:
        full = out.view(n, c, rows * 2, cols * 2)
    height, width = indices.input_size
    return full[..., :height, :width]


def _gather_from_windows(full: Tensor, indices: PoolIndices) -> Tensor:
    channels_last = indices.channels_last
    positions = indices.physical_positions()
    full = full.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    windows = _windows(_pad_to_even(full, 0.0, channels_last), channels_last)
    if not full.is_floating_point():
        out = _plane(windows, 1, 1, channels_last).clone()
        for code in (2, 1, 0):
            dy, dx = _OFFSETS[code]
            out = torch.where(positions == code, _plane(windows, dy, dx, channels_last), out)
        return _to_logical(out, channels_last)
    out = None  # the sum over the four window planes of plane x mask: one term is the value, the others 0
    for code, mask in enumerate(_window_masks(positions, full.dtype)):
        plane = _plane(windows, *_OFFSETS[code], channels_last)
        out = plane * mask if out is None else out.addcmul_(plane, mask)
    return _to_logical(out, channels_last)


def _window_masks(positions: Tensor, dtype: torch.dtype) -> Iterator[Tensor]:
    """0/1 maps of codes 0..3 (``_OFFSETS`` order) in ``dtype``, one at a time.

    Bit arithmetic on the uint8 codes (``code ^ (3 - k)`` is 3 exactly when code is k, and
    ``(x + 1) >> 2`` is 1 exactly when x is 3): on CPU, comparisons into bool maps and where()
    on them cost several times as much. One at a time keeps the integer memory at two maps.
    """
    for code in range(4):
        mask = (positions ^ (3 - code)).add_(1).bitwise_right_shift_(2)
        yield mask if dtype == torch.uint8 else mask.to(dtype)


def compact_max_pool2d(x: Tensor) -> tuple[Tensor, PoolIndices]:
    """2x2/2 ceil-mode max-pooling returning pooled values and 2-bit window positions."""
    if x.dim() != 4:
        raise ValueError(f"compact_max_pool2d expects an NCHW tensor, got shape {tuple(x.shape)}")
    pooled, packed = _CompactMaxPool.apply(x)
    return pooled, PoolIndices(packed, tuple(pooled.shape), tuple(x.shape[-2:]), _is_channels_last(x))


def compact_max_unpool2d(values: Tensor, indices: PoolIndices, fill: float = 0) -> Tensor:
    """Place each value at its window position in a map of the pre-pooling size filled with ``fill``.

    ``fill`` is 0 but for quantised maps, whose zero is their zero point (see ``segnet.quantize``).
    """
    if tuple(values.shape) != indices.pooled_shape:
        raise ValueError(
            f"unpooling values of shape {tuple(values.shape)} with indices recorded for "
            f"{indices.pooled_shape}"
        )
    return _CompactMaxUnpool.apply(
        values, indices.packed, indices.pooled_shape, indices.input_size, indices.channels_last, fill
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
