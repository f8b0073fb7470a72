"""Exports that survive the standard int8 tool chains, and running every exported file.

The shipped model is quantized by ONNX Runtime's ``quantize_static`` and by OpenVINO's NNCF at
their defaults; its pooling positions must survive (the old value-comparing formulation agreed
with float32 on 6% of pixels under quantize_static, and NNCF's int8 compile failed on its -inf
padding). Inputs are smooth random scenes, so the test needs no dataset.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import segnet
from segnet.checkpoint import load_model
from segnet.export import checkpoint_metadata, export_onnx
from segnet.weights import default_weights_path

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIZE = (90, 120)


def _scenes(count: int, seed: int) -> list[np.ndarray]:
    """Smooth normalised images: low-frequency noise, as photos are, not pixel noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(count, 3, 6, 8, generator=g)
    return [F.interpolate(c[None], size=SIZE, mode="bicubic", align_corners=False).numpy() for c in coarse]


@pytest.fixture(scope="module")
def shipped_onnx(tmp_path_factory):
    loaded = load_model(default_weights_path())
    path = tmp_path_factory.mktemp("int8") / "fp32.onnx"
    export_onnx(loaded.model, path, SIZE, metadata=checkpoint_metadata(loaded))
    return path


def _agreement(reference: list[np.ndarray], other: list[np.ndarray]) -> float:
    return float(np.mean([(a.argmax(1) == b.argmax(1)).mean() for a, b in zip(reference, other)]))


def _run(session, frames):
    return [session.run(None, {"image": x})[0] for x in frames]


def test_exported_graph_has_no_infinite_padding(shipped_onnx):
    model = onnx.load(str(shipped_onnx))
    modes = [next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
             for node in model.graph.node if node.op_type == "Pad"]
    assert "edge" in modes  # 45 and 23 are odd: the pooling pads by repeating edges
    assert set(modes) <= {"edge", "constant"}  # constant: the unpooling's crop, value 0
    constants = list(model.graph.initializer) + [a.t for node in model.graph.node if node.op_type == "Constant"
                                                 for a in node.attribute if a.name == "value"]
    for tensor in constants:
        values = onnx.numpy_helper.to_array(tensor)
        if values.dtype.kind == "f":
            assert np.isfinite(values).all(), tensor.name


def test_onnxruntime_quantize_static_at_its_defaults_keeps_the_labels(shipped_onnx, tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    calibration, frames = _scenes(8, 0), _scenes(6, 1)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"image": x} for x in calibration])

        def get_next(self):
            return next(self.items, None)

    quantized = tmp_path / "int8.onnx"
    quantize_static(str(shipped_onnx), str(quantized), Reader())
    ops = {node.op_type for node in onnx.load(str(quantized)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # it did quantize
    reference = _run(ort.InferenceSession(str(shipped_onnx), providers=["CPUExecutionProvider"]), frames)
    int8 = _run(ort.InferenceSession(str(quantized), providers=["CPUExecutionProvider"]), frames)
    assert _agreement(reference, int8) > 0.9


def test_segnet_int8_onnx_export_runs_through_segnet_load(shipped_onnx, tmp_path):
    from segnet.deploy import quantize_onnx

    calibration, frames = _scenes(8, 0), _scenes(4, 2)
    reference = _run(ort.InferenceSession(str(shipped_onnx), providers=["CPUExecutionProvider"]), frames)
    path = quantize_onnx(shipped_onnx, tmp_path / "int8.onnx", calibration)
    # 7-bit weights, so that no CPU's int16 pair sums overflow (AVX2 without VNNI: 90.5% of pixels
    # as float32 on 4 CamVid val frames with 8 bits, 99.4% with 7; docs/deployment.md)
    weights = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
               if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert weights and max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64
    model = segnet.load(path, tta="none")
    assert model.precision == "int8" and model.backend == "onnxruntime"
    assert model.size == SIZE and model.classes.names[0] == "Sky"
    outputs = [model.model(torch.from_numpy(x)).numpy() for x in frames]
    assert _agreement(reference, outputs) > 0.9


def test_openvino_fp32_and_int8_exports_run_through_segnet_load(shipped_onnx, tmp_path):
    if segnet.extras.missing_modules("openvino"):
        pytest.skip("openvino/nncf not installed: pip install 'segnet[openvino]'")
    # Its own interpreter: see openvino_check.py.
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("openvino_check.py")),
                             str(shipped_onnx), str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "openvino exports ok" in result.stdout


def test_exported_files_are_refused_with_a_reason(shipped_onnx, tmp_path):
    with pytest.raises(ValueError, match="cannot run in torch"):
        segnet.load(shipped_onnx, backend="torch")
    with pytest.raises(ValueError, match="checkpoint runs in torch"):
        segnet.load(default_weights_path(), backend="onnxruntime")
    with pytest.raises(ValueError, match="cannot run in precision bf16"):
        segnet.load(shipped_onnx, precision="bf16")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(segnet.checkpoint.CheckpointError, match="not a readable exported model"):
        segnet.load(broken)
    bare = tmp_path / "bare.onnx"
    model = onnx.load(str(shipped_onnx))
    del model.metadata_props[:]
    onnx.save(model, str(bare))
    with pytest.raises(segnet.checkpoint.CheckpointError, match="has no segnet metadata"):
        segnet.load(bare)
    model = onnx.load(str(shipped_onnx))
    offsets = next(prop for prop in model.metadata_props if prop.key == "segnet.prior_offsets")
    offsets.value = "[0.1, 0.2]"  # the CRF would add them to 11 logits
    onnx.save(model, str(bare))
    with pytest.raises(segnet.checkpoint.CheckpointError, match="segnet.prior_offsets must be 11 finite numbers"):
        segnet.load(bare)


def test_a_static_export_runs_flip_by_default_and_refuses_multiscale(shipped_onnx, tmp_path, capsys):
    from PIL import Image

    from segnet.cli.main import main

    assert segnet.load(shipped_onnx).tta == "flip"  # auto: a static export runs at its own size only
    image = tmp_path / "road.png"
    Image.fromarray(np.zeros((60, 80, 3), dtype=np.uint8)).save(image)
    code = main(["predict", str(image), "--weights", str(shipped_onnx), "--tta", "multiscale", "--no-progress",
                 "--output", str(tmp_path / "out")])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(shipped_onnx) in error and "static export" in error and "--tta flip" in error
    assert not (tmp_path / "out").exists()
