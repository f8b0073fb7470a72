"""Int8 inference on CPU: every conv a oneDNN uint8 x int8 kernel, activations uint8 from end to end.

Why: with AVX512-VNNI an int8 product does four multiply-adds where bf16 does two, so the convs
that are SegNet's whole cost run about twice as fast as in bf16 (``benchmarks/infer_cpu.py``).
Why it stays simple: max-pooling and index unpooling commute with a monotone affine quantisation,
so a pooled or unpooled map keeps the uint8 grid of the conv that produced it. Each conv reads its
producer's grid and writes its own (ReLU fused), the unpooling fills with the zero point, and only
the classifier writes float32 logits. Nothing is dequantised in between.

The grids come from calibration: :func:`calibrate` runs the float32 model on a few images and
records each conv's output range (``segnet quantize`` stores them in the checkpoint). Weights are
quantised per output channel, symmetric: to 8 bits where the CPU has VNNI or AMX, to 7 bits
elsewhere (:func:`weight_levels`), since the weights are quantised when a model is loaded, on the
machine that runs it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .models.pooling import compact_max_pool2d, compact_max_unpool2d
from .models.segnet import MIN_INPUT_SIZE as SEGNET_MIN_SIZE
from .models.segnet import SegNet, check_input
from .models.segnet_basic import MIN_INPUT_SIZE as BASIC_MIN_SIZE
from .models.segnet_basic import SegNetBasic
from .optimize import cpu_has_fast_int8, fold_batchnorm, int8_kernels_available

INPUT_KEY = "input"  # the range of what the first conv reads (after SegNet-Basic's LRN)
ActivationRanges = dict[str, tuple[float, float]]


def weight_levels() -> int:
    """The largest weight magnitude in int8 steps: 127 where int8 dot products are native (VNNI, AMX),
    63 elsewhere.

    Why: without VNNI, oneDNN multiplies uint8 by int8 with AVX2's ``vpmaddubsw``, which adds each
    pair of products into an int16 that saturates: 2 x 255 x 127 overflows it, and one conv's
    output was off by up to 58 uint8 steps on an AMD EPYC (AVX2 only). With weights in [-64, 63]
    a pair is at most 2 x 255 x 64 = 32,640 and fits. This is FBGEMM's ``reduce_range``, spent on
    the weights (per channel, cheap) rather than on the activations.
    """
    return 127 if cpu_has_fast_int8() else 63


@dataclass(frozen=True)
class Grid:
    """An asymmetric uint8 grid: real value = scale * (q - zero_point)."""

    scale: float
    zero_point: int

    @classmethod
    def covering(cls, low: float, high: float) -> "Grid":
        low, high = min(low, 0.0), max(high, 0.0)  # zero must be exact: padding and unpooling fill it
        scale = max(high - low, 1e-8) / 255.0
        return cls(scale, int(round(-low / scale)))

    def quantize(self, x: Tensor) -> Tensor:
        q = torch.round(x.float() / self.scale).add_(self.zero_point).clamp_(0, 255)
        return q.to(torch.uint8).contiguous(memory_format=torch.channels_last)


@dataclass
class _Unit:
    name: str
    conv: nn.Conv2d
    relu: bool


def _units(block: nn.Module, prefix: str) -> list[_Unit]:
    """The convs of a block in order, each with whether a ReLU follows it (BatchNorm already folded)."""
    leaves = [(f"{prefix}.{name}" if name else prefix, m) for name, m in block.named_modules()
              if not list(m.children())]
    units = []
    for i, (name, module) in enumerate(leaves):
        if isinstance(module, nn.Conv2d):
            after = [m for _, m in leaves[i + 1:] if not isinstance(m, (nn.Identity, nn.Dropout))]
            units.append(_Unit(name, module, bool(after) and isinstance(after[0], nn.ReLU)))
        elif not isinstance(module, (nn.ReLU, nn.Identity, nn.Dropout)):
            raise ValueError(f"int8: unexpected {type(module).__name__} at '{name}' (fold BatchNorm first)")
    return units


@dataclass
class _Layout:
    """SegNet's shape, read off a model: optional input norm, encoder and decoder blocks, classifier."""

    input_norm: nn.Module | None
    encoder: list[list[_Unit]]
    decoder: list[list[_Unit]]
    classifier: _Unit
    in_channels: int
    min_size: int


def _layout(model: nn.Module) -> _Layout:
    # A subclass with its own forward (SegNet-Basic-EncoderAddition's skips) is another graph.
    if isinstance(model, SegNet) and type(model).forward is SegNet.forward:
        encoder = [_units(b, f"encoder.blocks.{i}") for i, b in enumerate(model.encoder.blocks)]
        input_norm, min_size = None, SEGNET_MIN_SIZE
    elif isinstance(model, SegNetBasic) and type(model).forward is SegNetBasic.forward:
        encoder = [_units(b, f"encoder.{i}") for i, b in enumerate(model.encoder)]
        input_norm, min_size = model.input_norm, BASIC_MIN_SIZE
    else:
        raise ValueError(f"int8 inference supports the SegNet and SegNet-Basic families, not {type(model).__name__}")
    decoder = [_units(b, f"decoder.{i}") for i, b in enumerate(model.decoder)]
    return _Layout(input_norm, encoder, decoder, _Unit("classifier", model.classifier, False),
                   model.in_channels, min_size)


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[Tensor]) -> ActivationRanges:
    """Each conv's output range (after its ReLU) over ``batches``, from the float32 model.

    Keys are the convs' module names, plus ``"input"`` for what the first conv reads. The model is
    copied and its BatchNorm folded first, so the ranges are those the int8 kernels will see.
    """
    folded = fold_batchnorm(copy.deepcopy(model).float().eval())
    layout = _layout(folded)
    units = [u for block in layout.encoder + layout.decoder for u in block] + [layout.classifier]
    ranges: dict[str, list[float]] = {}

    def record(name: str, relu: bool, x: Tensor) -> None:
        low = 0.0 if relu else float(x.min())
        high = max(float(x.max()), 0.0)
        old = ranges.setdefault(name, [low, high])
        old[0], old[1] = min(old[0], low), max(old[1], high)

    hooks = [u.conv.register_forward_hook(lambda _m, _i, out, u=u: record(u.name, u.relu, out)) for u in units]
    first = layout.encoder[0][0].conv
    hooks.append(first.register_forward_pre_hook(lambda _m, args: record(INPUT_KEY, False, args[0])))
    seen = 0
    try:
        for batch in batches:
            folded(batch.float())
            seen += 1
    finally:
        for hook in hooks:
            hook.remove()
    if not seen:
        raise ValueError("int8 calibration needs at least one batch of images")
    return {name: (low, high) for name, (low, high) in ranges.items()}


class QuantizedConv2d(nn.Module):
    """A conv on uint8 input: int8 per-channel weights, fused ReLU, uint8 (or float32) output."""

    def __init__(self, conv: nn.Conv2d, source: Grid, target: Grid | None, relu: bool,
                 levels: int | None = None) -> None:
        super().__init__()
        self.levels = weight_levels() if levels is None else levels
        weight = conv.weight.detach().float()
        self.weight_scale = (weight.abs().amax(dim=(1, 2, 3)) / self.levels).clamp_min(1e-12)
        weight_q = torch.round(weight / self.weight_scale.view(-1, 1, 1, 1)).clamp_(-self.levels - 1, self.levels)
        weight_q = weight_q.to(torch.int8)
        self.weight_zero_point = torch.zeros(weight.shape[0], dtype=torch.int64)
        self.geometry = ([*conv.stride], [*conv.padding], [*conv.dilation], conv.groups)
        # Packed once into oneDNN's blocked layout (an opaque tensor, so not a buffer).
        self.packed = torch.ops.onednn.qconv_prepack(weight_q, self.weight_scale, source.scale,
                                                     source.zero_point, *self.geometry, None)
        self.bias = None if conv.bias is None else conv.bias.detach().float().clone()
        self.source, self.target, self.relu = source, target, relu

    def forward(self, x: Tensor) -> Tensor:
        stride, padding, dilation, groups = self.geometry
        target = self.target
        return torch.ops.onednn.qconv2d_pointwise(
            x.contiguous(memory_format=torch.channels_last), self.source.scale, self.source.zero_point,
            self.packed, self.weight_scale, self.weight_zero_point, self.bias, stride, padding, dilation,
            groups, target.scale if target else 1.0, target.zero_point if target else 0,
            None if target else torch.float32, "relu" if self.relu else "none", [], "")

    def extra_repr(self) -> str:
        out = f"uint8 scale={self.target.scale:.3g} zp={self.target.zero_point}" if self.target else "float32"
        return (f"{tuple(self.packed.shape) if self.packed.dim() else ''} weights=+-{self.levels} "
                f"relu={self.relu} out={out}")


class Int8SegNet(nn.Module):
    """SegNet or SegNet-Basic (eval, BatchNorm folded) running its convs in int8.

    Takes float32 images like the float model and returns float32 logits.
    """

    def __init__(self, model: nn.Module, ranges: ActivationRanges) -> None:
        super().__init__()
        if not int8_kernels_available():
            raise RuntimeError("int8 inference needs a torch build with oneDNN (x86 CPU)")
        layout = _layout(model)
        needed = [INPUT_KEY] + [u.name for b in layout.encoder + layout.decoder for u in b]
        missing = [name for name in needed if name not in ranges]
        if missing:
            raise ValueError(f"int8 calibration ranges lack {missing} (were they calibrated for another model?)")
        self.in_channels, self.min_size = layout.in_channels, layout.min_size
        self.input_norm = layout.input_norm
        self.input_grid = Grid.covering(*ranges[INPUT_KEY])
        grid = self.input_grid

        def quantized(block: list[_Unit]) -> nn.Sequential:
            nonlocal grid
            convs = []
            for unit in block:
                target = Grid.covering(*ranges[unit.name])
                convs.append(QuantizedConv2d(unit.conv, grid, target, unit.relu))
                grid = target
            return nn.Sequential(*convs)

        self.encoder = nn.ModuleList(quantized(block) for block in layout.encoder)
        self.decoder = nn.ModuleList(quantized(block) for block in layout.decoder)
        self.classifier = QuantizedConv2d(layout.classifier.conv, grid, None, False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, self.min_size, "Int8SegNet")
        x = x.float()
        if self.input_norm is not None:
            x = self.input_norm(x)
        q = self.input_grid.quantize(x)
        saved = []
        for block in self.encoder:
            q = block(q)
            q, indices = compact_max_pool2d(q)
            saved.append(indices)
        for block in self.decoder:
            fill = block[0].source.zero_point  # the unpooled map's zero, on its producer's grid
            q = block(compact_max_unpool2d(q, saved.pop(), fill=fill))
        return self.classifier(q)


def quantize_model(model: nn.Module, ranges: ActivationRanges) -> Int8SegNet:
    """An int8 copy of ``model`` (the original is left untouched)."""
    folded = fold_batchnorm(copy.deepcopy(model).float().eval())
    return Int8SegNet(folded, ranges)
