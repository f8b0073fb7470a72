"""`segnet models`: the registry as a table of size, cost and pooling-index memory."""

from __future__ import annotations

import argparse

from ..weights import list_weights
from .common import parse_size


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models",
        help="list the available models (parameters, GFLOPs, pooling-index memory) and named weights",
        description="List registered models. Costs are counted for one image of the given size "
        "(multiply-adds x 2); index memory compares torch's int64 indices with the 2-bit form.",
    )
    parser.add_argument("--num-classes", type=int, default=11, help="classes of the head (default 11, CamVid)")
    parser.add_argument("--size", default="360x480", help="input HxW for the costs (default 360x480)")
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from ..models import create_model, list_models, measure_complexity, model_entry

    size = parse_size(args.size)
    if size is None:
        raise ValueError("segnet models needs a concrete --size such as 360x480")
    height, width = size
    header = f"{'model':<36}{'params (M)':>11}{'GFLOPs':>9}{'idx int64 (MB)':>16}{'idx compact (MB)':>18}  description"
    print(f"costs at 3x{height}x{width}, {args.num_classes} classes")
    print(header)
    print("-" * len(header))
    for name in list_models():
        with torch.device("meta"):  # shapes only: no real weights for the 250M-parameter models
            model = create_model(name, args.num_classes)
        cost = measure_complexity(model, (3, height, width))
        print(
            f"{name:<36}{cost.parameters / 1e6:>11.2f}{cost.gflops:>9.1f}"
            f"{cost.indices_int64_bytes / 1e6:>16.2f}{cost.indices_compact_bytes / 1e6:>18.2f}"
            f"  {model_entry(name).summary}"
        )
    print()
    print("named weights (segnet.load(NAME), --weights NAME):")
    for entry in list_weights():
        size = f"{entry.path.stat().st_size / 1e6:.1f} MB" if entry.path.is_file() else "not installed"
        print(f"  {entry.name:<10}{entry.model:<16}{size:>10}  {entry.summary}")
    return 0
