"""Does the exported shipped model survive the standard int8 tool chains at their defaults?

Exports the shipped model to ONNX at its working size, quantizes it with ONNX Runtime's
``quantize_static`` and with OpenVINO's NNCF (16 CamVid train frames spread over the split), and
prints the argmax agreement of each with the float32 ONNX on every 5th val frame.
``--formulation old`` swaps in the first export pooling (positions by comparing values with the
pooled maximum, -inf padding) to show what it did.

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
from segnet.spacing import evenly_spaced
from segnet.checkpoint import load_model
from segnet.data import CamVid, default_root, eval_transform
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
    args = parser.parse_args()
    if args.formulation == "old":
        export.export_max_pool2d = old_export_max_pool2d
    root = Path(args.data) if args.data else default_root("camvid")
    loaded = load_model(default_weights_path())
    size = loaded.size

    def frames(split: str, indices) -> list[np.ndarray]:
        dataset = CamVid(root, split, transform=eval_transform(None))
        return [F.interpolate(dataset[i][0][None], size=size, mode="bilinear", align_corners=False,
                              antialias=True).numpy() for i in indices]

    calibration = frames("train", evenly_spaced(16, 367))
    test = frames("val", range(0, 101, 5))
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

        reference = run(fp32)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter([{"image": x} for x in calibration])

            def get_next(self):
                return next(self.items, None)

        quantized = Path(folder) / "int8.onnx"
        quantize_static(str(fp32), str(quantized), Reader())
        print(f"{args.formulation}: onnxruntime quantize_static (defaults): {agreement(run(quantized)):.2f}% "
              f"argmax agreement with float32 on {len(test)} val frames")
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
        print(f"{args.formulation}: OpenVINO NNCF quantize (defaults): {agreement(outputs):.2f}% argmax agreement")


if __name__ == "__main__":
    main()
