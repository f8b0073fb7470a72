"""`segnet export`: a checkpoint to ONNX or a torch.export `.pt2`, optionally checked against PyTorch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..extras import require
from ..checkpoint import load_model
from ..export import checkpoint_metadata, compare, export_onnx, export_pt2, onnx_runner, pt2_runner
from ..weights import resolve_weights
from .common import parse_size, writable_file

FORMATS = {".onnx": "onnx", ".pt2": "pt2"}
# --check fails below this argmax agreement or above this mean |logit difference|. Not the max:
# a pooling window whose two largest values tie to float32 rounding may pick the other cell in
# another runtime (see segnet.export.check_onnx), a real but local ~1e-3 difference.
CHECK_MIN_AGREEMENT = 0.99
CHECK_MAX_MEAN_DIFF = 1e-4
# A second, odd-sized check input for dynamic exports, so the check exercises the symbolic shape.
DYNAMIC_CHECK_OFFSET = (9, 15)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX or a torch.export .pt2 program",
        description="Export a checkpoint for deployment. ONNX goes through torch's dynamo exporter "
        "with standard ops only (input 'image', output 'logits') and carries the model name, "
        "classes, mean/std and input size in its metadata_props; .pt2 is a torch.export program "
        "(torch.export.load) with the same metadata as segnet_metadata.json. --dynamic makes "
        "batch, height and width symbolic: any size from 2**poolings+1 (33 for SegNet, 17 for "
        "SegNet-Basic) up, odd sizes included.",
    )
    p.add_argument("--weights", help="checkpoint (.pt) written by segnet train (default: the shipped model)")
    p.add_argument("--format", choices=sorted(set(FORMATS.values())),
                   help="onnx or pt2 (default: from the --output suffix, else onnx)")
    p.add_argument("--output", required=True, help="file to write (.onnx or .pt2)")
    p.add_argument("--size", help="input HxW to export at (default: the checkpoint's training size)")
    p.add_argument("--dynamic", action="store_true", help="symbolic batch, height and width")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's; 18 or newer)")
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=1, help="batch size of a static export and of --check (default 1)")
    p.add_argument("--check", action="store_true",
                   help="run the exported file (onnxruntime / torch.export.load) against PyTorch on a "
                   "random input; prints the max |logit difference| and argmax agreement")
    return p


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    suffix_format = FORMATS.get(output.suffix.lower())
    if suffix_format is None:
        raise ValueError(f"--output {output}: unknown suffix {output.suffix or '(none)'!r}; "
                         f"use {' or '.join(sorted(FORMATS))}")
    fmt = args.format or suffix_format
    if args.opset is not None and fmt != "onnx":
        raise ValueError("--opset applies to ONNX exports only")
    if fmt != suffix_format:
        raise ValueError(f"--output {output}: the suffix says {suffix_format}, --format says {fmt}")
    if fmt == "onnx":
        require("export", "ONNX export", only=("onnx", "onnxscript", "onnxruntime") if args.check
                else ("onnx", "onnxscript"))
    source = resolve_weights(args.weights)
    if output.exists() and output.resolve() == source.resolve():
        raise ValueError(f"--output {output} is the checkpoint being exported; choose another file")
    if output.is_dir():
        raise ValueError(f"--output {output} is a folder; give a file name ending in {output.suffix or '.onnx'}")
    writable_file(output, "--output")
    weights = resolve_weights(args.weights)
    loaded = load_model(weights)
    size = parse_size(args.size) if args.size else loaded.size
    if size is None:
        raise ValueError(f"{weights}: checkpoint has no training size; pass --size HxW")
    metadata = {**checkpoint_metadata(loaded), "segnet.checkpoint": weights.name}
    if fmt == "onnx":
        export_onnx(loaded.model, output, size, args.dynamic, args.opset, metadata, batch=args.batch)
        load_runner = onnx_runner
    else:
        export_pt2(loaded.model, output, size, args.dynamic, metadata, batch=args.batch)
        load_runner = pt2_runner
    kind = "dynamic batch/height/width" if args.dynamic else f"static {args.batch}x{size[0]}x{size[1]}"
    print(f"exported {loaded.spec.name} ({kind}) to {output} ({output.stat().st_size / 1e6:.1f} MB)")
    if not args.check:
        return 0
    sizes = [size]
    if args.dynamic:
        sizes.append((size[0] + DYNAMIC_CHECK_OFFSET[0], size[1] + DYNAMIC_CHECK_OFFSET[1]))
    runner, passed = load_runner(output), True
    for height, width in sizes:
        result = compare(runner, loaded.model, (height, width), batch=args.batch)
        passed &= (result["argmax_agreement"] >= CHECK_MIN_AGREEMENT
                   and result["mean_abs_diff"] <= CHECK_MAX_MEAN_DIFF)
        print(f"check {args.batch}x{height}x{width}: max |logit difference| {result['max_abs_diff']:.3g} "
              f"(mean {result['mean_abs_diff']:.3g}), argmax agreement {100 * result['argmax_agreement']:.2f}%")
    if not passed:
        print(f"segnet export: check failed (want argmax agreement >= {100 * CHECK_MIN_AGREEMENT:g}% and "
              f"mean |logit difference| <= {CHECK_MAX_MEAN_DIFF:g})", file=sys.stderr)
        return 1
    return 0
