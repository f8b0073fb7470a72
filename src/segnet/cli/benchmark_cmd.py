"""`segnet benchmark`: the paper's computational table (time, memory, size) for chosen models."""

from __future__ import annotations

import argparse

from ..benchmark import DEFAULT_MODELS, BenchmarkSettings, markdown_table, run_benchmark, write_report
from .common import next_free_dir, parse_names, writable_dir


def parse_shape(text: str) -> tuple[int, int, int]:
    """'3x360x480' -> (3, 360, 480); 'HxW' means 3 channels."""
    try:
        values = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        values = ()
    if len(values) == 2:
        values = (3, *values)
    if len(values) != 3 or min(values) < 1:
        raise ValueError(f"size '{text}' is not of the form CxHxW or HxW, e.g. 3x360x480")
    return values  # type: ignore[return-value]


def add_parser(subparsers) -> argparse.ArgumentParser:
    defaults = BenchmarkSettings()
    p = subparsers.add_parser(
        "benchmark", help="forward/backward time, training/inference memory, size and GFLOPs of models",
        description="Benchmark models like the SegNet paper's computational table. Forward = inference "
        "(eval, no_grad); backward = loss.backward() of a training step, timed alone; medians after "
        "warm-up. Memory = peak above the loaded model and input, each measured in a fresh process "
        "(CUDA: max_memory_allocated; CPU: VmHWM - VmRSS). Writes benchmark.md, benchmark.csv and "
        "benchmark.png to --output.",
    )
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated model names (default {','.join(DEFAULT_MODELS)}; see `segnet models`)")
    p.add_argument("--size", default="x".join(map(str, defaults.input_shape)),
                   help="input CxHxW or HxW (default 3x360x480, the paper's CamVid size)")
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=defaults.batch, help="images per pass (default 1)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=defaults.device, help="device (default cpu)")
    p.add_argument("--repeats", type=int, default=defaults.repeats, help="timed runs, median reported (default 5)")
    p.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed runs first (default 2)")
    p.add_argument("--num-classes", type=int, default=defaults.num_classes, help="classes (default 11, CamVid)")
    p.add_argument("--output", help="output folder (default runs/benchmark-N)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    names = parse_names(args.models)
    if not names:
        raise ValueError("--models is empty; give comma-separated names, e.g. segnet,fcn")
    output = writable_dir(args.output or next_free_dir("runs", "benchmark"), "--output")
    settings = BenchmarkSettings(parse_shape(args.size), args.batch, args.device, args.repeats,
                                 args.warmup, args.num_classes)
    rows = run_benchmark(names, settings, progress=not args.no_progress)
    paths = write_report(rows, settings, output)
    print(markdown_table(rows, settings))
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0
