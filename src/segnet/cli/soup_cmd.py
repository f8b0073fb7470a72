"""`segnet soup`: average the weights of several checkpoints of one model into one."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..weights import resolve_weights
from .common import writable_file


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "soup", help="average the weights of runs that share a start (seeds of one fine-tuning cycle)",
        description="Average the weights and BatchNorm statistics of two or more checkpoints of one model "
        "(a 'model soup'). Seeds of one cycle that started from the same weights stay in one basin, so "
        "their average is often better than each and costs nothing at inference (a run and its own "
        "continuation gained nothing on CamVid); runs from different random starts do not share a basin, "
        "and their average is useless. The result has no int8 calibration: refresh its BatchNorm statistics "
        "(`segnet refresh-bn`, optional), shift its prior (`segnet shift-prior`, optional), then "
        "`segnet quantize` it.",
    )
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="two or more checkpoints (.pt) of one model, as trained (not prior-shifted)")
    p.add_argument("--weights", dest="shares", metavar="W[,W...]",
                   help="each checkpoint's share, comma-separated, normalised to sum 1 (default: equal shares)")
    p.add_argument("--output", required=True, help="checkpoint to write")
    return p


def _shares(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--weights {text}: expected numbers separated by commas, such as 1,1,2") from None


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import atomic_save, load_model, read_checkpoint
    from ..soup import make_soup, soup_weights

    shares = _shares(args.shares)
    soup_weights(len(args.checkpoints), shares)  # the count and the shares, before any file is read
    output = writable_file(args.output, "--output")
    paths = [resolve_weights(path) for path in args.checkpoints]
    if len({Path(p).resolve() for p in paths}) < len(paths):
        raise ValueError(f"{' '.join(args.checkpoints)}: a checkpoint is named twice; give a share with "
                         "--weights instead")
    for path in paths:  # each part must rebuild its model alone: one clear error for a broken file
        load_model(path)
    soup = make_soup([read_checkpoint(p) for p in paths], paths, shares)
    atomic_save(soup, output)  # the parts rebuilt their model and the soup has their layers and shapes
    parts = ", ".join(f"{Path(part['path']).name} {part['share']:.3g}" for part in soup["soup_of"])
    print(f"soup of {parts} written to {output}")
    return 0
