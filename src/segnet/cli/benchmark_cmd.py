"""`segnet benchmark`: the paper's computational table (time, memory, size) for chosen models."""

from __future__ import annotations

import argparse

from .common import next_free_dir, parse_names, writable_dir

DEFAULT_MODELS = ("segnet", "segnet_basic", "fcn", "deconvnet", "deeplab_largefov")


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
    # Unset options take BenchmarkSettings' defaults (read in run(): that module loads torch).
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
    p.add_argument("--size", help="input CxHxW or HxW (default 3x360x480, the paper's CamVid size)")
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, help="images per pass (default 1)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="device (default cpu)")
    p.add_argument("--repeats", type=int, help="timed runs, median reported (default 5)")
    p.add_argument("--warmup", type=int, help="untimed runs first (default 2)")
    p.add_argument("--num-classes", type=int, help="classes (default 11, CamVid)")
    p.add_argument("--output", help="output folder (default runs/benchmark-N)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from ..benchmark import BenchmarkSettings, markdown_table, run_benchmark, write_report

    names = parse_names(args.models)
    if not names:
        raise ValueError("--models is empty; give comma-separated names, e.g. segnet,fcn")
    output = writable_dir(args.output or next_free_dir("runs", "benchmark"), "--output")
    given = {"input_shape": None if args.size is None else parse_shape(args.size), "batch": args.batch,
             "device": args.device, "repeats": args.repeats, "warmup": args.warmup, "num_classes": args.num_classes}
    settings = BenchmarkSettings(**{name: value for name, value in given.items() if value is not None})
    rows = run_benchmark(names, settings, progress=not args.no_progress)
    paths = write_report(rows, settings, output)
    print(markdown_table(rows, settings))
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0
