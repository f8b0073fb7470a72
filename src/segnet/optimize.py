"""The fast float path: BatchNorm folded into the convs, channels-last, bf16 where the CPU has it.

Which precision runs where is decided here (:func:`resolve_precision`); the int8 path is
:mod:`segnet.quantize`, and :mod:`segnet.backends` puts the two behind one call.

SegNet's tutorial ships a "BN absorber" for the same reason: at inference BatchNorm is a fixed
per-channel affine map, so it costs a whole extra pass over every feature map for nothing.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

PRECISIONS = ("fp32", "bf16", "int8", "auto")


@lru_cache(maxsize=1)
def _cpu_flags() -> str:
    """/proc/cpuinfo, read once per process ("" where there is none): the flags do not change, and
    an int8 model asks for them at every conv it builds (:func:`segnet.quantize.weight_levels`)."""
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.read_text(errors="ignore") if cpuinfo.is_file() else ""


def cpu_has_fast_bf16() -> bool:
    """True where bf16 matrix work runs natively (AVX512-BF16 or AMX), not emulated."""
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def emulated_bf16_warning(amp: str | None, device: torch.device) -> str | None:
    """One line for a user who asked for bf16 on a CPU that only emulates it, else None.

    Why: without AVX512-BF16 or AMX every bf16 op is converted to float32 and back, so the
    "faster" setting is the slow one: a SegNet-Basic training step ran 17-130x slower than in
    float32 on an AMD EPYC with AVX2 only (``benchmarks/train_throughput.py``, session 12).
    """
    if amp != "bf16" or device.type != "cpu" or cpu_has_fast_bf16():
        return None
    return ("warning: this CPU has no native bf16 (AVX512-BF16 or AMX), so bf16 autocast is emulated "
            "and slower than float32 here; use --amp none")


def int8_kernels_available() -> bool:
    """True where this torch build has oneDNN's quantised conv (x86 CPU builds do)."""
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv2d_pointwise")
    except (AttributeError, RuntimeError):
        return False


def cpu_has_fast_int8() -> bool:
    """True where int8 dot products are native (AVX512-VNNI, AVX-VNNI or AMX) and torch has the kernels."""
    if not int8_kernels_available():
        return False
    flags = _cpu_flags()
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def resolve_precision(precision: str, device: torch.device, calibrated: bool = False) -> str:
    """The precision to run: ``auto`` picks int8 (CPU, calibrated model), else bf16, else float32.

    int8 wins on every x86 CPU measured: 4x float32 with VNNI, and 2.0x on an AVX2-only AMD EPYC
    (0.467 against 0.923 s per 360x480 image, 99.5% of pixels labelled alike;
    ``benchmarks/infer_cpu.py --paths fast-fp32,fast-int8``), where it runs with 7-bit weights
    (:func:`segnet.quantize.weight_levels`).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision 'int8' runs on the CPU only, not on {device.type}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if calibrated and int8_kernels_available():
        return "int8"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d in a Sequential into that conv (in place)."""
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module._modules.items())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                module._modules[conv_name] = fuse_conv_bn_eval(conv.eval(), bn.eval())
                module._modules[bn_name] = nn.Identity()
    return model


class Float32Island(nn.Module):
    """Runs a module without a bf16 CPU kernel (LocalResponseNorm) in float32 inside a bf16 model."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.float()).to(x.dtype)


def prepare_float(
    model: nn.Module,
    precision: str = "fp32",
    channels_last: bool = True,
    fold_bn: bool = True,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """A float32 or bf16 copy of ``model`` set up for fast inference; the original is left untouched."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"prepare_float runs fp32 or bf16, not '{precision}'; int8 is segnet.quantize's")
    device = torch.device(device)
    fast = copy.deepcopy(model).eval()
    if fold_bn:
        fold_batchnorm(fast)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    if dtype == torch.bfloat16:
        for parent in list(fast.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.LocalResponseNorm):
                    setattr(parent, name, Float32Island(child))
    fast.to(device=device, dtype=dtype)
    if channels_last:
        fast.to(memory_format=torch.channels_last)
    for parameter in fast.parameters():
        parameter.requires_grad_(False)
    return fast
