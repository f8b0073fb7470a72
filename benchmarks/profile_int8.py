"""Where the int8 time goes: the project's int8 path against OpenVINO's, layer kind by layer kind.

Ours: ``torch.profiler`` over forward passes of ``segnet.quantize.Int8SegNet`` (self CPU time per
operator). OpenVINO: the NNCF-quantized IR compiled with ``PERF_COUNT`` (its own per-node timer),
summed by node type and kernel. Both on the shipped model at one size, batch 1, all threads.

    python benchmarks/profile_int8.py [--size 360x480] [--repeats 20]

Run it on a quiet machine; the shares matter more than the absolute times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import infer_cpu  # noqa: E402  (the same model builders and calibration as the speed table)


def profile_ours(size, repeats: int) -> tuple[float, list[tuple[str, float, int]]]:
    run = infer_cpu.build_path("shipped", "fast-int8", 1, Path(tempfile.mkdtemp()), size)
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        for _ in range(3):
            run(x)
        start = time.perf_counter()
        for _ in range(repeats):
            run(x)
        wall = (time.perf_counter() - start) / repeats
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(repeats):
                run(x)
    rows = [(e.key, e.self_cpu_time_total / 1000 / repeats, e.count // repeats) for e in prof.key_averages()]
    return wall, sorted((r for r in rows if r[1] > 0.01), key=lambda r: -r[1])


def profile_openvino(size, repeats: int) -> tuple[float, list[tuple[str, float, int]]]:
    import numpy as np
    import openvino as ov

    onnx_dir = Path(tempfile.mkdtemp())
    infer_cpu.SIZE = size
    infer_cpu.build_path("shipped", "openvino-int8", 1, onnx_dir, size)  # writes the NNCF IR
    xml = next(onnx_dir.glob("*-nncf-int8.xml"))
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(xml)), "CPU", {"PERF_COUNT": "YES"})
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).standard_normal((1, 3, *size)).astype(np.float32)
    for _ in range(3):
        request.infer({0: x})
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    start = time.perf_counter()
    for _ in range(repeats):
        request.infer({0: x})
        for info in request.get_profiling_info():
            if info.status != info.Status.EXECUTED:
                continue
            key = f"{info.node_type} [{info.exec_type}]"
            totals[key][0] += info.real_time.total_seconds() * 1000 / repeats
            totals[key][1] += 1
    wall = (time.perf_counter() - start) / repeats
    rows = [(k, v[0], v[1] // repeats) for k, v in totals.items()]
    return wall, sorted((r for r in rows if r[1] > 0.01), key=lambda r: -r[1])


def print_table(title: str, wall: float, rows: list[tuple[str, float, int]], top: int) -> None:
    total = sum(r[1] for r in rows)
    print(f"\n{title}: {wall * 1000:.1f} ms per forward (wall), {total:.1f} ms in timed operators")
    print("| operator | ms per forward | share | calls |")
    print("| --- | ---: | ---: | ---: |")
    for name, ms, calls in rows[:top]:
        print(f"| {name} | {ms:.2f} | {100 * ms / total:.0f}% | {calls} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="360x480")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, shipped model at {size[0]}x{size[1]}, batch 1")
    print_table("segnet int8 (torch.profiler, self time)", *profile_ours(size, args.repeats), args.top)
    print_table("OpenVINO int8 (PERF_COUNT)", *profile_openvino(size, args.repeats), args.top)


if __name__ == "__main__":
    main()
