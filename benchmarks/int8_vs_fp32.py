"""The shipped model in int8 against float32 on this CPU: speed and agreement, in one run.

Why: ``auto`` picks int8 on every x86 CPU. With VNNI (AVX512-VNNI, AVX-VNNI, AMX) its weights have
8 bits; without, 7 (AVX2's int16 pair sums would overflow, ``segnet.quantize.weight_levels``). This
checks on the machine at hand that the int8 path is the faster one and labels like float32.

    python benchmarks/int8_vs_fp32.py [--data ../shared/camvid] [--repeats 5] [--every 5]

Prints the CPU's int8 flags and weight bits, the median seconds per 360x480 image of each path
(one pass, batch 1, the two taking turns), their ratio, and, given CamVid, the share of pixels
both label alike and each one's mIoU on every ``--every``-th val frame (frames the shipped model
trained on: this compares the two paths, it does not score the model).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segnet.inference import Segmenter
from segnet.metrics import ConfusionMatrix
from segnet.optimize import cpu_has_fast_int8, int8_kernels_available
from segnet.quantize import weight_levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/camvid"), help="CamVid root (optional)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds, the paths taking turns")
    parser.add_argument("--every", type=int, default=5, help="score every N-th val frame")
    args = parser.parse_args()
    if not int8_kernels_available():
        raise SystemExit("this torch build has no oneDNN int8 conv (x86 CPU builds do)")
    print(f"CPU: int8 dot products native (VNNI/AMX): {cpu_has_fast_int8()}; "
          f"weights quantised to +-{weight_levels()} ({'8' if weight_levels() == 127 else '7'} bits); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    paths = {precision: Segmenter.load(precision=precision, tta="none") for precision in ("fp32", "int8")}
    image = torch.randn(1, 3, *paths["fp32"].size)
    for segmenter in paths.values():
        segmenter.logits(image)  # warm-up
    seconds: dict[str, list[float]] = {precision: [] for precision in paths}
    for _ in range(args.repeats):
        for precision, segmenter in paths.items():
            start = time.perf_counter()
            segmenter.logits(image)
            seconds[precision].append(time.perf_counter() - start)
    median = {precision: statistics.median(times) for precision, times in seconds.items()}
    height, width = paths["fp32"].size
    print(f"{height}x{width}, batch 1, one pass, median of {args.repeats}: fp32 {median['fp32']:.3f} s, "
          f"int8 {median['int8']:.3f} s; int8 speed-up {median['fp32'] / median['int8']:.2f}x")

    frames = sorted((args.data / "val").glob("*.png"))[:: args.every]
    if not frames:
        print(f"no CamVid val frames under {args.data}: agreement not measured")
        return
    scores = {precision: ConfusionMatrix(11, 11) for precision in paths}
    same = total = 0
    for frame in frames:
        picture = Image.open(frame).convert("RGB")
        truth = torch.from_numpy(np.array(Image.open(args.data / "valannot" / frame.name))).long()
        labels = {precision: segmenter.label(picture) for precision, segmenter in paths.items()}
        for precision, matrix in scores.items():
            matrix.update(torch.from_numpy(labels[precision]).long(), truth)
        same += int((labels["fp32"] == labels["int8"]).sum())
        total += labels["fp32"].size
    miou = {precision: matrix.compute()["miou"] for precision, matrix in scores.items()}
    print(f"{len(frames)} val frames: {100 * same / total:.2f}% of pixels labelled alike; mIoU fp32 "
          f"{miou['fp32']:.2f}, int8 {miou['int8']:.2f} ({miou['int8'] - miou['fp32']:+.2f})")


if __name__ == "__main__":
    main()
