"""Do sub-grid shifts at test time pay? A study on the held-out drive, through crf_study.py.

Four 2x2 poolings put SegNet-Basic's decoder on a 16-pixel grid, and max-unpooling writes each value
back where its encoder found the maximum; the image shifted by part of a cell (reflect-padded to the
next multiple of 16, the logits cropped back) gives the unpooling other positions, a cheap
ensemble member. This runs `crf_study.py` (same options, same scores) with such passes added to
every pass of the TTA given: ``--shifts "8"`` one pass shifted by (8, 8), ``"4;8;12"`` three,
``"8,0;0,8"`` by rows or columns only. Session 23: +0.2 mIoU for a second pass on one pass, nothing
on top of multiscale (docs/recipe_study.md).

    python benchmarks/shift_study.py --shifts 8 --weights S3_held_a02.pt --data-root ../shared/camvid \\
        --tta multiscale --alphas 0 --settings "3,40,13,1,5"
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import segnet.inference as inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
import crf_study  # noqa: E402

GRID = 16  # 2 ** (SegNet-Basic's four poolings)


def parse_shifts(text: str) -> list[tuple[int, int]]:
    """``"8"`` -> [(8, 8)], ``"8,0;0,8"`` -> [(8, 0), (0, 8)]: (rows, columns), each in [0, 16)."""
    shifts = []
    for part in filter(None, text.split(";")):
        rows, _, cols = part.partition(",")
        shift = (int(rows), int(cols or rows))
        if not all(0 <= value < GRID for value in shift) or shift == (0, 0):
            raise SystemExit(f"--shifts: '{part}' must be one or two offsets in [0, {GRID}), not both 0")
        shifts.append(shift)
    return shifts


def with_shifts(one_pass, shifts: list[tuple[int, int]]):
    """``inference._one_pass`` that also runs the image shifted by each of ``shifts`` and averages."""
    def shifted(model, images: torch.Tensor, size, amp, channels_last, mirror):
        total = one_pass(model, images, size, amp, channels_last, mirror)
        x = images
        if tuple(size) != tuple(images.shape[-2:]):
            x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        height, width = x.shape[-2:]
        for rows, cols in shifts:
            padded = F.pad(x, (cols, (GRID - cols) % GRID, rows, (GRID - rows) % GRID), mode="reflect")
            logits = one_pass(model, padded, tuple(padded.shape[-2:]), amp, channels_last, mirror)
            total = total + logits[..., rows:rows + height, cols:cols + width]
        return total / (1 + len(shifts))
    return shifted


if __name__ == "__main__":
    if "--shifts" not in sys.argv:
        raise SystemExit("usage: shift_study.py --shifts \"8\" [crf_study.py's options]")
    at = sys.argv.index("--shifts")
    inference._one_pass = with_shifts(inference._one_pass, parse_shifts(sys.argv[at + 1]))
    del sys.argv[at:at + 2]
    crf_study.main()
