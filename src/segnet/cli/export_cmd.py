"""`segnet export`: a checkpoint to ONNX or a torch.export `.pt2`, optionally checked against PyTorch."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..extras import require
from ..weights import resolve_weights
from .common import parse_size, writable_file

FORMATS = {".onnx": "onnx", ".pt2": "pt2", ".xml": "openvino"}
INT8_CHECK_MIN_AGREEMENT = 0.95  # int8 against float32 on real frames (--check)
INT8_CHECK_IMAGES = 4
# --check fails below this argmax agreement or above this mean |logit difference|. Not the max:
# a pooling window whose two largest values tie to float32 rounding may pick the other cell in
# another runtime (see segnet.export.check_onnx), a real but local ~1e-3 difference.
CHECK_MIN_AGREEMENT = 0.99
CHECK_MAX_MEAN_DIFF = 1e-4
# A second, odd-sized check input for dynamic exports, so the check exercises the symbolic shape.
DYNAMIC_CHECK_OFFSET = (9, 15)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX (fp32 or int8), OpenVINO IR or a torch.export .pt2 program",
        description="Export a checkpoint for deployment. ONNX goes through torch's dynamo exporter "
        "with standard ops only (input 'image', output 'logits') and carries the model name, "
        "classes, mean/std and input size in its metadata_props; .pt2 is a torch.export program "
        "(torch.export.load) with the same metadata as segnet_metadata.json; .xml is OpenVINO IR (+ .bin) "
        "with the metadata in its rt_info. --precision int8 quantizes ONNX (QDQ, ONNX Runtime) or IR "
        "(NNCF) on the same calibration frames as segnet quantize. segnet predict/evaluate/serve and "
        "segnet.load() run every one of these files. --dynamic makes "
        "batch, height and width symbolic: any size from 2**poolings+1 (33 for SegNet, 17 for "
        "SegNet-Basic) up, odd sizes included.",
    )
    p.add_argument("--weights", help="checkpoint (.pt) written by segnet train (default: the shipped model)")
    p.add_argument("--format", choices=sorted(set(FORMATS.values())),
                   help="onnx, openvino or pt2 (default: from the --output suffix)")
    p.add_argument("--output", required=True, help="file to write (.onnx, .xml for OpenVINO, or .pt2)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "int8"],
                   help="int8: ONNX QDQ (per-channel int8 weights, uint8 activations) or OpenVINO int8 by NNCF, "
                   "calibrated on --calibration-images frames of --split (default fp32)")
    p.add_argument("--dataset", default="camvid", choices=["camvid", "sunrgbd", "folder"],
                   help="int8: dataset kind of the calibration frames (default camvid)")
    p.add_argument("--data-root", help="int8: dataset folder (default $SEGNET_CAMVID or ../shared/camvid)")
    p.add_argument("--split", default="train", help="int8: split of the calibration frames (default train)")
    p.add_argument("--calibration-images", type=int, default=16, metavar="N",
                   help="int8: calibration frames, spread over the split (default 16, as segnet quantize)")
    p.add_argument("--size", help="input HxW to export at (default: the checkpoint's training size)")
    p.add_argument("--dynamic", action="store_true", help="symbolic batch, height and width")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's; 18 or newer)")
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=1, help="batch size of a static export and of --check (default 1)")
    p.add_argument("--check", action="store_true",
                   help="run the exported file (onnxruntime / torch.export.load) against PyTorch on a "
                   "random input; prints the max |logit difference| and argmax agreement")
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from ..calibration import calibration_images
    from ..checkpoint import load_model
    from ..deploy import export_openvino, quantize_onnx
    from ..export import checkpoint_metadata, compare, export_onnx, export_pt2, read_onnx_metadata
    from ..runtimes import load_exported

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
    if args.precision == "int8" and fmt == "pt2":
        raise ValueError("--precision int8 applies to ONNX and OpenVINO exports; a .pt2 program is float32")
    if args.precision == "int8" and args.dynamic:
        raise ValueError("--precision int8 exports at a fixed size; leave out --dynamic")
    if args.calibration_images < 1:
        raise ValueError(f"--calibration-images {args.calibration_images}: give at least 1")
    if fmt in ("onnx", "openvino"):
        require("export", "ONNX export", only=("onnx", "onnxscript", "onnxruntime")
                if (args.check or args.precision == "int8") else ("onnx", "onnxscript"))
    if fmt == "openvino":
        require("openvino", "OpenVINO export", only=("openvino", "nncf") if args.precision == "int8" else ("openvino",))
    source = resolve_weights(args.weights)
    if output.exists() and output.resolve() == source.resolve():
        raise ValueError(f"--output {output} is the checkpoint being exported; choose another file")
    if output.is_dir():
        raise ValueError(f"--output {output} is a folder; give a file name ending in {output.suffix or '.onnx'}")
    writable_file(output, "--output")
    weights = source
    loaded = load_model(weights)
    size = parse_size(args.size) if args.size else loaded.size
    if size is None:
        raise ValueError(f"{weights}: checkpoint has no training size; pass --size HxW")
    metadata = {**checkpoint_metadata(loaded), "segnet.checkpoint": weights.name}
    calibration = None
    if args.precision == "int8":
        calibration = [image.numpy() for image in calibration_images(
            args.dataset, args.data_root, args.split, args.calibration_images, size, loaded.mean, loaded.std,
            loaded.spec.num_classes, str(weights))]
    if args.dynamic:  # so that half a minute of silence does not read as a hang (stdout: an error stays one line)
        print("tracing with symbolic batch/height/width: torch.export's shape reasoning takes a while "
              "(about 30 s for SegNet-Basic to ONNX on 2 cores)", flush=True)
    if fmt == "pt2":
        export_pt2(loaded.model, output, size, args.dynamic, metadata, batch=args.batch)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)  # writable_file proved it can be made
        with tempfile.TemporaryDirectory(prefix=".segnet-export.", dir=output.parent) as folder:
            float_onnx = output if (fmt == "onnx" and calibration is None) else Path(folder) / "float32.onnx"
            export_onnx(loaded.model, float_onnx, size, args.dynamic, args.opset, metadata, batch=args.batch)
            if fmt == "onnx" and calibration is not None:
                quantize_onnx(float_onnx, output, calibration)
            elif fmt == "openvino":
                export_openvino(float_onnx, output, {**metadata, **read_onnx_metadata(float_onnx)}, calibration)
    kind = "dynamic batch/height/width" if args.dynamic else f"static {args.batch}x{size[0]}x{size[1]}"
    files = output.stat().st_size + (output.with_suffix(".bin").stat().st_size if fmt == "openvino" else 0)
    print(f"exported {loaded.spec.name} ({kind}, {args.precision}) to {output} ({files / 1e6:.1f} MB"
          f"{' with its .bin' if fmt == 'openvino' else ''})")
    if not args.check:
        return 0
    runner = load_exported(output).model
    if args.precision == "int8":  # int8 against float32 on real frames: random input says nothing here
        frames = list(calibration_images(args.dataset, args.data_root, "val", INT8_CHECK_IMAGES, size, loaded.mean,
                                         loaded.std, loaded.spec.num_classes, str(weights)))
        with torch.no_grad():
            agreement = sum(float((loaded.model(x).argmax(1) == runner(x).argmax(1)).float().mean())
                            for x in frames) / len(frames)
        print(f"check on {len(frames)} val frames: int8 and float32 agree on {100 * agreement:.2f}% of pixels")
        if agreement < INT8_CHECK_MIN_AGREEMENT:
            print(f"segnet export: check failed (want >= {100 * INT8_CHECK_MIN_AGREEMENT:g}%)", file=sys.stderr)
            return 1
        return 0
    sizes = [size]
    if args.dynamic:
        sizes.append((size[0] + DYNAMIC_CHECK_OFFSET[0], size[1] + DYNAMIC_CHECK_OFFSET[1]))
    passed = True
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
