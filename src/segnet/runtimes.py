"""Running exported files: ONNX in ONNX Runtime or OpenVINO, OpenVINO IR, and torch.export .pt2.

Each runtime is wrapped as a module that maps a normalised float32 N x C x H x W batch to float32
logits, so :class:`segnet.Segmenter` (and with it ``predict``, ``evaluate``, ``serve``) runs an
exported file exactly as it runs a checkpoint. The file's own metadata (written by ``segnet
export``) supplies the classes, colours, normalisation and working size.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import CheckpointError, LoadedModel
from .data.classes import ClassSet
from .extras import require
from .models import ModelSpec

EXPORT_SUFFIXES = {".onnx": "onnxruntime", ".xml": "openvino", ".pt2": "torch"}
BACKENDS = ("torch", "onnxruntime", "openvino")
OPENVINO_RT_PREFIX = "segnet"  # IR rt_info section holding the metadata


def is_exported(path: str | Path) -> bool:
    return Path(path).suffix.lower() in EXPORT_SUFFIXES


def default_backend(path: str | Path) -> str:
    """The runtime a file runs in unless told otherwise (.onnx: ONNX Runtime, .xml: OpenVINO)."""
    return EXPORT_SUFFIXES.get(Path(path).suffix.lower(), "torch")


class _FixedBatch(nn.Module):
    """Runs a static-batch export on any batch size by splitting (and padding the last chunk)."""

    def __init__(self, batch: int | None) -> None:
        super().__init__()
        self.fixed_batch = batch

    def run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        array = x.detach().float().cpu().contiguous().numpy()
        step = self.fixed_batch
        if step is None or array.shape[0] == step:
            return torch.from_numpy(np.ascontiguousarray(self.run(array)))
        outputs = []
        for first in range(0, array.shape[0], step):
            chunk = array[first:first + step]
            short = step - chunk.shape[0]
            if short:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], short, axis=0)])
            outputs.append(self.run(chunk)[: step - short])
        return torch.from_numpy(np.ascontiguousarray(np.concatenate(outputs)))


class OnnxRuntimeModel(_FixedBatch):
    """An ONNX file in an ONNX Runtime CPU session."""

    def __init__(self, path: str | Path, batch: int | None, threads: int | None = None) -> None:
        super().__init__(batch)
        require("export", "running an ONNX file in ONNX Runtime", only=("onnxruntime",))
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]


class OpenVinoModel(_FixedBatch):
    """An OpenVINO IR (.xml/.bin) or ONNX file compiled for the CPU by OpenVINO.

    float32 models run with OpenVINO's float32 precision hint: on CPUs with bf16 units OpenVINO
    would otherwise run them in bf16, and the figures would not be the model's own.
    """

    def __init__(self, path: str | Path, batch: int | None, threads: int | None = None) -> None:
        super().__init__(batch)
        require("openvino", "running a model in OpenVINO", only=("openvino",))
        import openvino as ov

        core = ov.Core()
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.request = self.compiled.create_infer_request()

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.request.infer({0: x})[0])


class Pt2Model(nn.Module):
    """A ``torch.export`` program (.pt2)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        # Kept out of the module tree: an exported program refuses train()/eval() calls.
        from .export import load_pt2_module

        self._program = (load_pt2_module(path),)

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self._program[0](x.float())


def read_metadata(path: str | Path) -> dict[str, str]:
    """What ``segnet export`` wrote into the file: ONNX metadata_props, IR rt_info, .pt2 extra file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        require("export", "reading an ONNX file", only=("onnx",))
        from .export import read_onnx_metadata

        return read_onnx_metadata(path)
    if suffix == ".xml":
        require("openvino", "reading an OpenVINO IR", only=("openvino",))
        import openvino as ov

        model = ov.Core().read_model(str(path))
        if not model.has_rt_info([OPENVINO_RT_PREFIX]):
            return {}
        section = model.get_rt_info([OPENVINO_RT_PREFIX])
        return {f"segnet.{key}": value.astype(str) for key, value in section.astype(dict).items()}
    if suffix == ".pt2":
        from .export import read_pt2_metadata

        return {key: value if isinstance(value, str) else json.dumps(value)
                for key, value in read_pt2_metadata(path).items()}
    raise CheckpointError(f"{path}: not an exported model (.onnx, .xml or .pt2)")


def _size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


def load_exported(path: str | Path, backend: str | None = None, threads: int | None = None) -> LoadedModel:
    """An exported file as a :class:`LoadedModel` whose ``model`` runs in ``backend``.

    The working size is the export's own for a static export and the checkpoint's training size
    for a dynamic one.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: exported model not found")
    backend = backend or default_backend(path)
    if backend not in BACKENDS:
        raise ValueError(f"backend '{backend}' is not one of {', '.join(BACKENDS)}")
    suffix = path.suffix.lower()
    if (suffix, backend) in ((".xml", "onnxruntime"), (".xml", "torch"), (".onnx", "torch"), (".pt2", "onnxruntime"),
                             (".pt2", "openvino")):
        raise ValueError(f"{path}: a {suffix} file cannot run in {backend}; "
                         f"{'ONNX files run in onnxruntime or openvino' if suffix == '.onnx' else suffix + ' runs in ' + default_backend(path)}")
    try:
        meta = read_metadata(path)
    except CheckpointError:
        raise
    except Exception as error:  # a corrupt file: the runtimes' messages run long
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: not a readable exported model ({first})") from None
    if "segnet.spec" not in meta or "segnet.classes" not in meta:
        raise CheckpointError(f"{path}: has no segnet metadata (classes, normalisation, size); export it with "
                              "segnet export")
    try:
        spec = ModelSpec.from_dict(json.loads(meta["segnet.spec"]))
        classes = ClassSet.from_dict(json.loads(meta["segnet.classes"]))
        mean = tuple(float(v) for v in json.loads(meta["segnet.mean"]))
        std = tuple(float(v) for v in json.loads(meta["segnet.std"]))
        dynamic = json.loads(meta.get("segnet.dynamic", "false"))
        size = _size(meta.get("segnet.training_size")) if dynamic else _size(meta.get("segnet.input_size"))
        batch = None if dynamic else int(meta.get("segnet.batch", "1"))
        shift = meta.get("segnet.prior_shift_alpha")
        prior_shift_alpha = None if shift is None else float(shift)
        offsets = meta.get("segnet.prior_offsets")
        prior_offsets = None if offsets is None else tuple(float(v) for v in json.loads(offsets))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: unusable segnet metadata ({error})") from None
    if not all(math.isfinite(v) and v > 0 for v in std):
        raise CheckpointError(f"{path}: normalisation std {std} is not positive")
    if prior_offsets is not None and (len(prior_offsets) != classes.num_classes
                                      or not all(math.isfinite(v) for v in prior_offsets)):
        raise CheckpointError(f"{path}: segnet.prior_offsets must be {classes.num_classes} finite numbers (one per "
                              f"class), got {len(prior_offsets)}; export it again with segnet export")
    if backend == "onnxruntime":
        model: nn.Module = OnnxRuntimeModel(path, batch, threads)
    elif backend == "openvino":
        model = OpenVinoModel(path, batch, threads)
    else:
        model = Pt2Model(path)
    return LoadedModel(model.eval(), spec, classes, mean, std, size, str(path), backend=backend,
                       exported_precision=meta.get("segnet.precision", "fp32"), fixed_size=not dynamic,
                       prior_shift_alpha=prior_shift_alpha, prior_offsets=prior_offsets)
