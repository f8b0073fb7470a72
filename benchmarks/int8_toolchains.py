"""Does the exported shipped model survive the standard int8 tool chains at their defaults?

Exports the shipped model to ONNX at its working size, quantizes it with ONNX Runtime's
``quantize_static`` and with OpenVINO's NNCF (16 CamVid train frames spread over the split), and
prints the argmax agreement of each with the float32 ONNX and the mIoU of all three on every 5th
val frame. ``--formulation old`` swaps in the first export pooling (positions by comparing values
with the pooled maximum, -inf padding) to show what it did.

For figures on frames the weights never saw, give a twin trained without a sequence and that
sequence: ``--weights twin.pt --split train+val --sequences 0006R0 --every 1``; the calibration
frames then leave the sequence out as well.

    python benchmarks/int8_toolchains.py [--data ../shared/camvid] [--formulation new|old]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import segnet.export as export
from segnet.checkpoint import load_model
from segnet.cli.common import parse_names
from segnet.data import build_dataset, default_root, eval_transform, select_sequences
from segnet.metrics import ConfusionMatrix
from segnet.spacing import evenly_spaced
from segnet.weights import default_weights_path


def old_export_max_pool2d(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first formulation: -inf padding, positions by equality with the pooled maximum."""
    n, c, height, width = x.shape
    h, w = (height + 1) // 2, (width + 1) // 2
    x = F.pad(x, (0, 2 * w - width, 0, 2 * h - height), value=float("-inf"))
    windows = x.reshape(n, c, h, 2, w, 2)
    tl, tr = windows[:, :, :, 0, :, 0], windows[:, :, :, 0, :, 1]
    bl, br = windows[:, :, :, 1, :, 0], windows[:, :, :, 1, :, 1]
    pooled = torch.maximum(torch.maximum(tl, tr), torch.maximum(bl, br))
    code = torch.where(bl == pooled, export._u8(2), export._u8(3))
    code = torch.where(tr == pooled, export._u8(1), code)
    code = torch.where(tl == pooled, export._u8(0), code)
    return pooled, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CamVid root (default: segnet's default)")
    parser.add_argument("--formulation", choices=["new", "old"], default="new")
    parser.add_argument("--weights", default=None, help="checkpoint to export (default: the shipped one)")
    parser.add_argument("--split", default="val", help="CamVid split(s) scored, e.g. train+val")
    parser.add_argument("--sequences", default=None, metavar="SEQ[,SEQ]",
                        help="score only these sequences and keep them out of the calibration frames")
    parser.add_argument("--every", type=int, default=5, help="score every Nth frame")
    args = parser.parse_args()
    if args.formulation == "old":
        export.export_max_pool2d = old_export_max_pool2d
    root = Path(args.data) if args.data else default_root("camvid")
    weights = Path(args.weights) if args.weights else default_weights_path()
    loaded = load_model(weights)
    size = loaded.size
    held_out = parse_names(args.sequences)

    def resized(image: torch.Tensor) -> np.ndarray:
        return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True).numpy()

    train = build_dataset("camvid", root, "train", transform=eval_transform(None))
    if held_out:
        train = select_sequences(train, drop=held_out)
    calibration = [resized(train[i][0]) for i in evenly_spaced(16, len(train))]
    scored = build_dataset("camvid", root, args.split, transform=eval_transform(None))
    if held_out:
        scored = select_sequences(scored, keep=held_out)
    pairs = [scored[i] for i in range(0, len(scored), args.every)]
    test = [resized(image) for image, _ in pairs]
    labels = [label for _, label in pairs]
    where = f"{len(test)} frames of {args.split}" + (f" ({','.join(held_out)})" if held_out else "")
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    with tempfile.TemporaryDirectory() as folder:
        fp32 = Path(folder) / "fp32.onnx"
        export.export_onnx(loaded.model, fp32, size, metadata=export.checkpoint_metadata(loaded))

        def run(path):
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            return [session.run(None, {"image": x})[0] for x in test]

        def agreement(outputs) -> float:
            return 100 * float(np.mean([(a.argmax(1) == b.argmax(1)).mean() for a, b in zip(reference, outputs)]))

        def miou(outputs) -> float:
            """mIoU at the labels' own resolution, logits resized as `segnet evaluate` does."""
            matrix = ConfusionMatrix(scored.classes.num_classes, scored.classes.ignore_index)
            for logits, label in zip(outputs, labels):
                up = F.interpolate(torch.from_numpy(np.asarray(logits)).float(), size=label.shape,
                                   mode="bilinear", align_corners=False)
                matrix.update(up.argmax(1)[0], label)
            return matrix.compute()["miou"]

        reference = run(fp32)
        print(f"{args.formulation}: float32 ONNX: {miou(reference):.2f} mIoU on {where} ({weights.name})")

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter([{"image": x} for x in calibration])

            def get_next(self):
                return next(self.items, None)

        quantized = Path(folder) / "int8.onnx"
        quantize_static(str(fp32), str(quantized), Reader())
        outputs = run(quantized)
        print(f"{args.formulation}: onnxruntime quantize_static (defaults): {agreement(outputs):.2f}% "
              f"argmax agreement with float32, {miou(outputs):.2f} mIoU")
        try:
            import nncf
            import openvino as ov
        except ImportError:
            print("(openvino/nncf not installed: pip install 'segnet[openvino]')")
            return
        int8 = nncf.quantize(ov.convert_model(str(fp32)), nncf.Dataset(calibration))
        try:
            compiled = ov.Core().compile_model(int8, "CPU")
        except Exception as error:  # openvino raises its own types
            print(f"{args.formulation}: OpenVINO NNCF int8: does not compile ({str(error).splitlines()[0][:120]})")
            return
        outputs = [np.asarray(compiled(x)[0]) for x in test]
        print(f"{args.formulation}: OpenVINO NNCF quantize (defaults): {agreement(outputs):.2f}% "
              f"argmax agreement with float32, {miou(outputs):.2f} mIoU")


if __name__ == "__main__":
    main()
