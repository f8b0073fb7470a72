"""Run by test_export_int8.py in its own interpreter: OpenVINO exports of the shipped model.

OpenVINO's thread pools (TBB) living in the test suite's process beside torch's crashed that
process later in a full run, so the OpenVINO work happens here and reports by exit status.

    python openvino_check.py FP32_ONNX WORK_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

import segnet
from segnet.deploy import export_openvino
from segnet.export import read_onnx_metadata
from segnet.weights import default_weights_path


def scenes(count: int, seed: int, size) -> list[np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(count, 3, 6, 8, generator=g)
    return [F.interpolate(c[None], size=size, mode="bicubic", align_corners=False).numpy() for c in coarse]


def main() -> None:
    source, work = Path(sys.argv[1]), Path(sys.argv[2])
    meta = read_onnx_metadata(source)
    size = tuple(int(v) for v in meta["segnet.input_size"].split("x"))
    calibration, frames = scenes(8, 0, size), scenes(4, 2, size)
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    reference = [session.run(None, {"image": x})[0] for x in frames]
    exports = {"fp32": export_openvino(source, work / "fp32.xml", meta),
               "int8": export_openvino(source, work / "int8.xml", meta, calibration)}
    for precision, path in exports.items():
        model = segnet.load(path, tta="none")
        assert model.precision == precision and model.backend == "openvino", model
        assert model.size == size and model.classes.names[0] == "Sky"
        outputs = [model.model(torch.from_numpy(x)).numpy() for x in frames]
        agreement = float(np.mean([(a.argmax(1) == b.argmax(1)).mean() for a, b in zip(reference, outputs)]))
        assert agreement > (0.999 if precision == "fp32" else 0.9), (precision, agreement)
    # A flip batch of 2 through a batch-1 export: split and joined back.
    in_openvino = segnet.load(source, tta="flip", backend="openvino")
    image = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    torch_model = segnet.load(default_weights_path(), precision="fp32", tta="flip", size=size)
    agree = (in_openvino.predict(image).labels == torch_model.predict(image).labels).mean()
    assert agree > 0.99, agree
    print("openvino exports ok")


if __name__ == "__main__":
    main()
