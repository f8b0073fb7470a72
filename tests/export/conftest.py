"""Checkpoints with non-trivial weights, written once per session, for the export tests."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segnet.checkpoint import atomic_save, make_checkpoint
from segnet.cli import export_cmd, main
from segnet.data import CAMVID_CLASSES
from segnet.export import ExportMaxPool2x2, export_ready
from segnet.models import create_model

MEAN, STD = (0.4, 0.45, 0.5), (0.25, 0.26, 0.27)


def scramble_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BatchNorm statistics and affine terms, as a trained model has.

    Freshly initialised BatchNorm is the identity in eval mode, which would leave the exporter's
    folding of BatchNorm into the convolutions untested.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            module.weight.data.copy_(1 + 0.3 * torch.randn(n, generator=generator))
            module.bias.data.copy_(0.2 * torch.randn(n, generator=generator))
    return model.eval()


def write_checkpoint(folder: Path, name: str, size=(48, 64), seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = scramble_batchnorm(create_model(name, CAMVID_CLASSES.num_classes), seed)
    path = folder / f"{name}.pt"
    atomic_save(make_checkpoint(model, CAMVID_CLASSES, MEAN, STD, size), path)
    return path


@pytest.fixture(scope="session")
def scrambled():
    """``scrambled(model, seed)``: the model with random BatchNorm terms, in eval mode."""
    return scramble_batchnorm


@pytest.fixture(scope="session")
def basic_checkpoint(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt"), "segnet_basic")


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`segnet ARGV` in-process, capturing its output."""
    assert export_cmd in main.SUBCOMMANDS  # the real CLI lists export
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main.main(argv)
        except SystemExit as exit_:  # argparse: --help, usage errors
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(argv) -> (exit code, stdout, stderr)``."""
    return _run_cli


def smallest_window_gap(ready: nn.Module, x: Tensor) -> float:
    """Smallest gap between a pooling window's largest and second-largest value, over all layers.

    Relative to each layer's largest activation. Max-unpooling is discontinuous: where a window's
    top two values are within float32 rounding (~1e-7 here), a 1-ulp difference between two
    runtimes (or torch float32 vs float64) moves the value to the neighbouring pixel and changes
    the logits near it by ~1e-3. The match tests use inputs without such near-ties.
    """
    gaps = []

    def record(module, inputs, output):
        t = inputs[0]
        n, c, height, width = t.shape
        h, w = (height + 1) // 2, (width + 1) // 2
        t = F.pad(t, (0, 2 * w - width, 0, 2 * h - height), value=float("-inf"))
        windows = t.reshape(n, c, h, 2, w, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w, 4)
        top = windows.topk(2, dim=-1).values
        gap = top[..., 0] - top[..., 1]
        live = top[..., 0] != 0  # all-zero (ReLU) windows unpool to zeros whichever cell wins
        scale = top[..., 0].abs().amax()
        gaps.append(torch.where(live, gap, torch.inf).amin() / scale)

    hooks = [m.register_forward_hook(record) for m in ready.modules() if isinstance(m, ExportMaxPool2x2)]
    with torch.no_grad():
        ready(x)
    for hook in hooks:
        hook.remove()
    return float(torch.stack(gaps).min())


def separated_input(model: nn.Module, shape: tuple[int, ...], candidates: int = 3) -> Tensor:
    """Of a few seeded random inputs, the one whose pooling windows are least tied."""
    ready = export_ready(model)  # the same pooling, with positions that hooks can read
    inputs = [torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) for seed in range(candidates)]
    return max(inputs, key=lambda x: smallest_window_gap(ready, x))


@pytest.fixture(scope="session")
def well_separated():
    """``well_separated(model, shape) -> input`` without near-tied pooling windows."""
    return separated_input
