"""Deployment formats beyond the plain export: int8 ONNX (QDQ) and OpenVINO IR (fp32 and int8).

Both start from the float32 ONNX file of :func:`segnet.export.export_onnx`, whose pooling keeps
its positions through quantize/dequantize pairs and pads without -inf, so the standard int8 tools
(ONNX Runtime's ``quantize_static``, OpenVINO's NNCF) work on it at their defaults.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .extras import require
from .runtimes import OPENVINO_RT_PREFIX


def quantize_onnx(source: str | Path, target: str | Path, calibration: Sequence[np.ndarray],
                  input_name: str = "image") -> Path:
    """``source`` (float32 ONNX) -> ``target``: QDQ int8, per-channel int8 weights, uint8 activations.

    ``calibration``: N x C x H x W float32 batches at the export's input size. The metadata of the
    source is kept, with ``segnet.precision`` = int8.
    """
    require("export", "int8 ONNX export", only=("onnx", "onnxruntime"))
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{input_name: np.ascontiguousarray(batch, dtype=np.float32)} for batch in calibration])

        def get_next(self):
            return next(self.items, None)

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as folder:
        staged = Path(folder) / target.name
        # reduce_range: 7-bit weights. On a CPU without VNNI, ONNX Runtime's uint8 x int8 kernels add
        # pairs of products in int16, which 8-bit weights overflow (the shipped model's export agreed
        # with float32 on 90.5% of pixels on an AVX2-only AMD EPYC, 99.4% with 7 bits). A file may
        # run on any CPU, so it always gets the safe grid.
        quantize_static(str(source), str(staged), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True)
        model = onnx.load(str(staged))
        props = {p.key: p.value for p in onnx.load(str(source), load_external_data=False).metadata_props}
        props["segnet.precision"] = "int8"
        del model.metadata_props[:]
        for key, value in props.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(staged))
        os.replace(staged, target)
    return target


def export_openvino(onnx_path: str | Path, xml_path: str | Path, metadata: Mapping[str, str],
                    calibration: Sequence[np.ndarray] | None = None) -> Path:
    """Convert the float32 ONNX file to OpenVINO IR (``.xml`` + ``.bin``), int8 by NNCF when
    ``calibration`` frames are given. ``metadata`` (``segnet.*`` keys) goes into the IR's rt_info."""
    require("openvino", "OpenVINO export", only=("openvino",) if calibration is None else None)
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    if calibration is not None:
        import nncf

        model = nncf.quantize(model, nncf.Dataset([np.ascontiguousarray(b, dtype=np.float32) for b in calibration]),
                              subset_size=len(calibration))
    values = {**metadata, "segnet.precision": "int8" if calibration is not None else "fp32"}
    for key, value in values.items():
        model.set_rt_info(str(value), [OPENVINO_RT_PREFIX, key.removeprefix("segnet.")])
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{xml_path.name}.", dir=xml_path.parent) as folder:
        staged = Path(folder) / xml_path.name
        ov.save_model(model, str(staged), compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), xml_path.with_suffix(".bin"))
        os.replace(staged, xml_path)  # the .xml last: it names the .bin, which is in place by now
    return xml_path
