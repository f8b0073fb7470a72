"""Argument parsing helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from ..tta import parse_tta, tta_cost


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'360x480' -> (360, 480); 'native' or None -> None (keep each image's size)."""
    if text is None or text.lower() == "native":
        return None
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size '{text}' is not of the form HxW, e.g. 360x480") from None
    if height < 1 or width < 1:
        raise ValueError(f"size '{text}' must be positive")
    return height, width


def parse_range(text: str) -> tuple[float, float]:
    """'0.75,1.25' -> (0.75, 1.25)."""
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"range '{text}' is not of the form MIN,MAX, e.g. 0.75,1.25") from None
    if not 0 < low <= high:
        raise ValueError(f"range '{text}' must satisfy 0 < MIN <= MAX")
    return low, high


def next_free_dir(parent: str | Path, stem: str) -> Path:
    """parent/stem-1, parent/stem-2, ...: the first that does not exist yet."""
    parent = Path(parent)
    number = 1
    while (parent / f"{stem}-{number}").exists():
        number += 1
    return parent / f"{stem}-{number}"


PRECISION_HELP = ("inference path (BatchNorm folded, channels-last): fp32, bf16, int8 (CPU; the checkpoint "
                  "must be calibrated by `segnet quantize`) or auto (int8 if calibrated, on an x86 CPU; "
                  "else bf16 if native, else fp32)")


def add_precision_argument(parser, default: str) -> None:
    parser.add_argument("--precision", default=default, choices=["fp32", "bf16", "int8", "auto"],
                        help=f"{PRECISION_HELP} (default {default})")


def add_dataset_arguments(parser, kind_help: str = "dataset kind (default camvid)") -> None:
    """--dataset, --data-root, --classes-file and --use-depth, as every command that reads frames takes them."""
    parser.add_argument("--dataset", default="camvid", choices=["camvid", "sunrgbd", "folder"], help=kind_help)
    parser.add_argument("--data-root", help="dataset folder (default $SEGNET_CAMVID or ../shared/camvid)")
    parser.add_argument("--classes-file", help="folder dataset: classes.json")
    parser.add_argument("--use-depth", action="store_true", help="SUN RGB-D: depth as a 4th channel")


def parse_names(text: str | None) -> list[str]:
    """A comma-separated list of names (sequences, models, hosts), blanks dropped."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def dataset_options(args) -> dict:
    """The dataset keyword options that --use-depth and --classes-file ask for."""
    options: dict = {"use_depth": True} if getattr(args, "use_depth", False) else {}
    if getattr(args, "classes_file", None):
        options["classes_file"] = args.classes_file
    return options


def add_tta_argument(parser, default: str) -> None:
    parser.add_argument("--tta", default=default, type=_tta_setting, metavar="{auto,none,flip,multiscale}",
                        help="test-time augmentation: 'flip' also runs the mirrored image and averages the "
                        "two (twice the compute); 'multiscale' does so at 0.5, 0.75, 1, 1.25 and 1.5 "
                        "times the working size (11.3 times), 'multiscale:0.5,1,1.25' at the scales "
                        "given; 'auto' is multiscale, or flip for a static export (see "
                        f"docs/inference.md) (default {default})")


def _tta_setting(text: str) -> str:
    """argparse type of --tta: the setting itself, checked here so a typo fails before any loading."""
    if text != "auto":
        try:
            parse_tta(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_refine_argument(parser, default: str) -> None:
    parser.add_argument("--refine", default=default, choices=["auto", "none", "crf"],
                        help="crf: a dense CRF on the logits moves labels to the image's edges (held-out drive: "
                        "+0.9 mIoU, +4.4 BF over int8 multiscale; 0.2 s per 360x480 image on 2 cores; on a "
                        "shifted model it starts from the logits as trained, without the class prior shift); "
                        f"auto: crf with flip or multiscale TTA, else none (default {default})")


def what_runs(model: str, size: tuple[int, int] | None, precision: str, tta: str, unit: str = "image",
              refine: str = "none") -> str:
    """One line for before the wait: the model, its size and precision, what the TTA setting
    multiplies the work by (multiscale's ten passes are most of predict's time per image), and the
    refinement when one runs."""
    return _passes_line(model, size, precision, tta, unit) + (f"; --refine {refine}" if refine != "none" else "")


def _passes_line(model: str, size: tuple[int, int] | None, precision: str, tta: str, unit: str) -> str:
    where = f"each {unit}'s own size" if size is None else f"{size[0]}x{size[1]}"
    line = f"{model} at {where}, {precision}, --tta {tta}"
    passes, compute = tta_cost(size, tta)
    if passes == 1:
        return line + f": one model pass per {unit}"
    cost = "" if compute is None else f", {compute:.1f}x the compute of one"
    return line + f": {passes} model passes per {unit}{cost} (--tta none runs one)"


def add_backend_argument(parser) -> None:
    parser.add_argument("--backend", choices=["torch", "onnxruntime", "openvino"],
                        help="runtime of an exported --weights file (default: .onnx in onnxruntime, .xml in "
                        "openvino, .pt2 in torch; an .onnx also runs in openvino); checkpoints run in torch")


def writable_dir(path: str | Path, option: str) -> Path:
    """Prove, before any work, that the folder ``path`` can be made and take files; creates nothing.

    The nearest folder that exists on the way to ``path`` must be a folder that takes a file.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: exists and is not a folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: cannot write there ({existing} is a file, not a folder)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".segnet-write-check-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"{option} {path}: cannot write there ({error.strerror or error})") from None
    return path


def writable_file(path: str | Path, option: str) -> Path:
    """A file path whose folder takes files and which is not itself a folder."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder; give a file name")
    writable_dir(path.parent if str(path.parent) else Path("."), option)
    return path
