"""Parameter, FLOP and pooling-index accounting, measured on the meta device (no real compute)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .pooling import MaxPool2x2, PoolIndices


@dataclass(frozen=True)
class Complexity:
    parameters: int
    gflops: float  # multiply-adds x 2, one forward pass
    indices_int64_bytes: int  # what max_pool2d(return_indices=True) would keep
    indices_compact_bytes: int  # what this model keeps


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def measure_complexity(model: nn.Module, input_shape: tuple[int, int, int], batch: int = 1) -> Complexity:
    """Count one forward pass at ``input_shape`` (C, H, W) without touching real memory."""
    pooled_numels: list[int] = []
    compact_bytes: list[int] = []

    def record(_module, _inputs, output):
        pooled, indices = output
        pooled_numels.append(pooled.numel())
        if isinstance(indices, PoolIndices):
            compact_bytes.append(indices.nbytes)
        else:
            compact_bytes.append(indices.numel() * indices.element_size())

    # A deep copy moved to the meta device: shapes and FLOPs without real compute or memory.
    on_meta = all(p.device.type == "meta" for p in model.parameters())
    meta_model = (model if on_meta else copy.deepcopy(model).to("meta")).eval()
    hooks = [m.register_forward_hook(record) for m in meta_model.modules() if isinstance(m, MaxPool2x2)]
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            meta_model(torch.empty((batch, *input_shape), device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return Complexity(
        parameters=count_parameters(model),
        gflops=counter.get_total_flops() / 1e9,
        indices_int64_bytes=sum(n * 8 for n in pooled_numels),
        indices_compact_bytes=sum(compact_bytes),
    )

