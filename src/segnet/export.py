"""Export a SegNet to ONNX (dynamo exporter) or a ``torch.export`` ``.pt2`` program.

The models' default pooling keeps 2-bit positions in custom autograd Functions and a dataclass,
which no exporter understands, and torch's ``max_unpool2d`` has no ONNX translation in the
TorchScript exporter. So exporting first swaps every :class:`MaxPool2x2`/:class:`MaxUnpool2x2`
of a *copy* of the model for :class:`ExportMaxPool2x2`/:class:`ExportMaxUnpool2x2`: the same
ceil-mode 2x2 pooling with the same window positions (uint8, 0..3, first maximum wins), written
with plain tensor ops. The graph then holds only standard ONNX ops (``Pad``, ``Reshape``,
``Gather``, ``Max``, ``Greater``, ``Equal``, ``Where``, ``DepthToSpace``, ...) and its logits
equal the compact path's bit for bit in PyTorch. Positions are decided among each window's own
values and padding repeats edges (no -inf), so int8 quantizers that put quantize/dequantize
pairs between the ops keep the pooling right (see :func:`export_max_pool2d`).

Dynamic shapes (``dynamic=True``): batch, height and width are symbolic. Any height/width works,
odd ones included (no "multiple of 32" rule), from ``2**poolings + 1`` up: torch.export
specialises size-1 dimensions, so the deepest feature map must be at least 2x2 (33 for the
5-pooling SegNet, 17 for the 4-pooling SegNet-Basic), and never below the model's own input
check. This holds for every SegNet-family model, DeconvNet, DeepLab-LargeFOV and the bilinear
SegNet-Basic variant; the FCN baselines crop their upsampled maps by slicing to a symbolic size,
which torch.export cannot prove for both parities, so they export at a fixed size only. A static
export runs at exactly its size.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import LoadedModel
from .models.pooling import MaxPool2x2, MaxUnpool2x2

__all__ = [
    "ExportMaxPool2x2",
    "ExportMaxUnpool2x2",
    "ExportCeilMaxPool2d",
    "export_max_pool2d",
    "export_max_unpool2d",
    "export_ready",
    "export_program",
    "export_onnx",
    "export_pt2",
    "check_onnx",
    "check_pt2",
    "compare",
    "onnx_runner",
    "pt2_runner",
    "checkpoint_metadata",
    "read_onnx_metadata",
    "read_pt2_metadata",
    "PT2_METADATA_FILE",
]

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
PT2_METADATA_FILE = "segnet_metadata.json"  # extra file inside a .pt2 archive
DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}
MIN_OPSET = 18  # the dynamo exporter's oldest supported opset


# --- Export-friendly pooling ------------------------------------------------------------------


def export_max_pool2d(x: Tensor) -> tuple[Tensor, Tensor]:
    """Ceil-mode 2x2/2 max-pool and the first maximum's window position (uint8, 0..3).

    Made to survive int8 tool chains (ONNX Runtime ``quantize_static``, OpenVINO NNCF):

    - the position is decided by comparing the window's own four values with each other, a
      knock-out of the top pair, the bottom pair, then the two winners, ties going to the earlier
      cell; never by comparing a value with the pooled output, which a quantizer may have
      re-quantized to another scale so that no input equals it any more;
    - odd sizes are padded by repeating the last row/column (ONNX ``Pad`` mode ``edge``), not
      with -inf, which no uint8 scale can hold. A repeated cell ties with the real one before it
      in its window and so never wins: the result is torch's ceil-mode pooling exactly.
    """
    n, c, height, width = x.shape
    h, w = (height + 1) // 2, (width + 1) // 2
    x = F.pad(x, (0, 2 * w - width, 0, 2 * h - height), mode="replicate")
    windows = x.reshape(n, c, h, 2, w, 2)
    top_left, top_right = windows[:, :, :, 0, :, 0], windows[:, :, :, 0, :, 1]
    bottom_left, bottom_right = windows[:, :, :, 1, :, 0], windows[:, :, :, 1, :, 1]
    top, bottom = torch.maximum(top_left, top_right), torch.maximum(bottom_left, bottom_right)
    top_code = torch.where(top_right > top_left, _u8(1), _u8(0))
    bottom_code = torch.where(bottom_right > bottom_left, _u8(3), _u8(2))
    code = torch.where(bottom > top, bottom_code, top_code)
    return torch.maximum(top, bottom), code


def export_max_unpool2d(values: Tensor, positions: Tensor, output_size: tuple[int, int]) -> Tensor:
    """Write each value at its window position: four parity planes, depth-to-space, crop.

    The crop is a (zero or negative) pad rather than a slice: a slice to a symbolic end makes
    torch.export guard on the example's parity, a pad has one output size for every input.
    """
    n, c, h, w = values.shape
    zero = values.new_zeros(())
    planes = [torch.where(positions == code, values, zero) for code in range(4)]
    # Channel 4*c + (2*row + col) -> pixel (2*y + row, 2*x + col): pixel_shuffle (DepthToSpace).
    full = F.pixel_shuffle(torch.stack(planes, dim=2).reshape(n, 4 * c, h, w), 2)
    height, width = output_size
    return F.pad(full, (0, width - 2 * w, 0, height - 2 * h))


def _u8(value: int) -> Tensor:
    return torch.tensor(value, dtype=torch.uint8)


class ExportMaxPool2x2(nn.Module):
    """Drop-in for :class:`MaxPool2x2` returning uint8 positions; counts calls to size exports."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.calls += 1
        return export_max_pool2d(x)


class ExportCeilMaxPool2d(ExportMaxPool2x2):
    """Drop-in for ``nn.MaxPool2d(2, 2, ceil_mode=True)`` (the FCN baselines): values only.

    torch's own ceil-mode output size has a rule (the last window must start inside the input)
    that torch.export cannot prove for symbolic sizes; this formulation has none.
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(x)[0]


def _is_ceil_max_pool_2x2(module: nn.Module) -> bool:
    return (
        isinstance(module, nn.MaxPool2d)
        and _pair(module.kernel_size) == (2, 2)
        and _pair(module.stride) == (2, 2)
        and _pair(module.padding) == (0, 0)
        and _pair(module.dilation) == (1, 1)
        and module.ceil_mode
        and not module.return_indices
    )


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value, value)


class ExportMaxUnpool2x2(nn.Module):
    """Drop-in for :class:`MaxUnpool2x2` taking the uint8 positions of :class:`ExportMaxPool2x2`."""

    def forward(self, x: Tensor, positions: Tensor, output_size: tuple[int, int]) -> Tensor:
        return export_max_unpool2d(x, positions, output_size)


def export_ready(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` whose 2x2 pooling layers are the export-friendly ones."""
    ready = copy.deepcopy(getattr(model, "module", model)).eval()
    for parent in list(ready.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, MaxPool2x2):
                setattr(parent, name, ExportMaxPool2x2())
            elif isinstance(child, MaxUnpool2x2):
                setattr(parent, name, ExportMaxUnpool2x2())
            elif _is_ceil_max_pool_2x2(child):
                setattr(parent, name, ExportCeilMaxPool2d())
    return ready


# --- Tracing ----------------------------------------------------------------------------------


def _example(model: nn.Module, size: tuple[int, int], batch: int, seed: int = 0) -> Tensor:
    height, width = size
    channels = int(getattr(model, "in_channels", 3))
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, height, width, generator=generator)


def _pooling_depth(ready: nn.Module, example: Tensor) -> int:
    """How many times the model pools 2x2, from one forward pass (which also validates the size)."""
    pools = [m for m in ready.modules() if isinstance(m, ExportMaxPool2x2)]
    for pool in pools:
        pool.calls = 0
    with torch.no_grad():
        ready(example)
    return sum(pool.calls for pool in pools)


def _smallest_accepted_size(ready: nn.Module, channels: int, upper: int) -> int:
    """Smallest square size the model's forward accepts (its input check), by bisection.

    ``upper`` is known to work; the probes below it are small and cheap.
    """
    low, high = 1, upper
    while low < high:
        middle = (low + high) // 2
        try:
            with torch.no_grad():
                ready(torch.zeros(1, channels, middle, middle))
        except (ValueError, RuntimeError):
            low = middle + 1
        else:
            high = middle
    return high


def export_program(
    model: nn.Module, size: tuple[int, int], dynamic: bool = False, batch: int = 1
) -> torch.export.ExportedProgram:
    """``torch.export`` the export-ready model at ``size`` (HxW), optionally with dynamic shapes."""
    return _trace(model, size, dynamic, batch)[0]


def _trace(
    model: nn.Module, size: tuple[int, int], dynamic: bool, batch: int
) -> tuple[torch.export.ExportedProgram, dict[str, str]]:
    """The exported program and the facts about it that go into the file's metadata."""
    height, width = _check_size(size)
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    ready = export_ready(model)
    # A dynamic batch traced at 1 would be specialised to 1 (torch.export's 0/1 rule).
    example = _example(ready, (height, width), max(batch, 2) if dynamic else batch)
    facts = {
        "segnet.input_size": f"{height}x{width}",
        "segnet.dynamic": json.dumps(dynamic),
        "segnet.input": f"{INPUT_NAME}: float32 N x {example.shape[1]} x H x W; "
        "RGB scaled to 0..1, then (x - mean) / std per channel",
        "segnet.output": f"{OUTPUT_NAME}: float32 N x classes x H x W; argmax over dim 1 is the label",
    }
    if not dynamic:
        facts["segnet.batch"] = str(batch)
        return torch.export.export(ready, (example,)), facts
    depth = _pooling_depth(ready, example)
    if min(height, width) < 2**depth + 1:
        raise ValueError(
            f"a dynamic export traces at {height}x{width}, but this model pools {depth} times and "
            f"needs at least {2**depth + 1}x{2**depth + 1} (deepest map 2x2); pass a --size of at least that"
        )
    # torch.export must be able to prove the model's own input-size check for every size it allows.
    smallest = max(2**depth + 1, _smallest_accepted_size(ready, example.shape[1], min(height, width)))
    facts["segnet.min_input_size"] = str(smallest)
    dims = {
        axis: torch.export.Dim(name, min=1 if axis == 0 else smallest) for axis, name in DYNAMIC_AXES.items()
    }
    try:
        return torch.export.export(ready, (example,), dynamic_shapes=(dims,)), facts
    except Exception as error:  # torch's constraint violations run to pages; keep one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{type(ready).__name__} cannot be exported with dynamic height/width ({first}); "
            "export it at a fixed size instead"
        ) from error


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if size is None or len(size) != 2 or min(size) < 1:
        raise ValueError(f"export needs a concrete input size HxW, got {size!r}")
    return int(size[0]), int(size[1])


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A path to write ``path``'s content to, moved into place only once it is complete.

    A folder rather than a temporary name: a .pt2 archive names its root after the file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as folder:
        staged = Path(folder) / path.name
        yield staged
        os.replace(staged, path)


# --- ONNX -------------------------------------------------------------------------------------


def export_onnx(
    model: nn.Module,
    path: str | Path,
    size: tuple[int, int],
    dynamic: bool = False,
    opset: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    batch: int = 1,
) -> Path:
    """Write ``model`` as one self-contained ONNX file (input ``image``, output ``logits``).

    ``metadata`` goes into the model's ``metadata_props`` (non-string values as JSON) so the
    file can be used without the checkpoint.
    """
    import onnx  # noqa: F401  (a clear ImportError here rather than deep in the exporter)

    if opset is not None and opset < MIN_OPSET:
        raise ValueError(f"opset {opset} is too old for the dynamo ONNX exporter; use {MIN_OPSET} or newer")
    program, facts = _trace(model, size, dynamic, batch)
    with _quiet_exporter():
        onnx_program = torch.onnx.export(
            program,
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            optimize=True,
            verbose=False,
        )
    if dynamic:
        _name_dynamic_axes(onnx_program.model, DYNAMIC_AXES)
    props = onnx_program.model.metadata_props
    for key, value in {**facts, **(metadata or {})}.items():
        props[str(key)] = value if isinstance(value, str) else json.dumps(value)
    path = Path(path)
    with _staged(path) as staged:
        onnx_program.save(staged, external_data=False)
    return path


def _name_dynamic_axes(model: Any, names: Mapping[int, str]) -> None:
    """Call the input's symbolic dims "batch", "height", "width" everywhere instead of "s77"...

    (torch.onnx names them only when it runs torch.export itself; we pass it our own program.)
    """
    import onnx_ir as ir

    graph = model.graph
    shape = graph.inputs[0].shape
    mapping = {shape[axis].value: name for axis, name in names.items() if isinstance(shape[axis], ir.SymbolicDim)}
    values = [*graph.inputs, *graph.outputs, *(out for node in graph for out in node.outputs)]
    for value in values:
        if value.shape is not None:
            value.shape = ir.Shape(
                [mapping.get(dim.value, dim) if isinstance(dim, ir.SymbolicDim) else dim for dim in value.shape]
            )


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what the exporter says on every call that no user can act on.

    Its "torchvision is not installed" warnings (we never use torchvision) and a deprecation
    warning raised inside torch's own pytree code.
    """
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with _no_pytree_deprecation():
            yield
    finally:
        logger.setLevel(level)


@contextmanager
def _no_pytree_deprecation() -> Iterator[None]:
    """torch's own pytree code warns that ``isinstance(treespec, LeafSpec)`` is deprecated, on
    export and on every ``.pt2`` load: nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        yield


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict of strings."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {prop.key: prop.value for prop in model.metadata_props}


# --- torch.export .pt2 ------------------------------------------------------------------------


def export_pt2(
    model: nn.Module,
    path: str | Path,
    size: tuple[int, int],
    dynamic: bool = False,
    metadata: Mapping[str, Any] | None = None,
    batch: int = 1,
) -> Path:
    """Save a ``torch.export`` program; ``metadata`` goes in as :data:`PT2_METADATA_FILE` (JSON)."""
    program, facts = _trace(model, size, dynamic, batch)
    extra = {PT2_METADATA_FILE: json.dumps({**facts, **(metadata or {})})}
    path = Path(path)
    with _staged(path) as staged:
        torch.export.save(program, staged, extra_files=extra)
    return path


def read_pt2_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata saved by :func:`export_pt2`, read from the archive without loading the program."""
    suffix = f"/extra/{PT2_METADATA_FILE}"
    with zipfile.ZipFile(path) as archive:
        name = next((n for n in archive.namelist() if n.endswith(suffix)), None)
        return json.loads(archive.read(name)) if name else {}


# --- Checking against PyTorch -----------------------------------------------------------------

Runner = Callable[[Tensor], Tensor]


def onnx_runner(path: str | Path) -> Runner:
    """The ONNX file in an onnxruntime CPU session, as a function of the input batch."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0])


def load_pt2_module(path: str | Path) -> nn.Module:
    """The ``.pt2`` program as a callable module (``torch.export.load``), quietly."""
    with _no_pytree_deprecation():
        return torch.export.load(str(path)).module()


def pt2_runner(path: str | Path) -> Runner:
    """The ``.pt2`` program via ``torch.export.load``, as a function of the input batch."""
    module = load_pt2_module(path)

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            return module(x)

    return run


def compare(
    runner: Runner, model: nn.Module, size: tuple[int, int], batch: int = 1, seed: int = 0
) -> dict[str, float]:
    """Run an exported model and ``model`` (PyTorch, eval mode) on one seeded random input.

    Returns ``max_abs_diff`` and ``mean_abs_diff`` of the logits and ``argmax_agreement`` (the
    fraction of pixels with the same predicted class). Float32 rounding differs between runtimes
    by ~1e-7, which also flips the argmax of pooling windows whose two largest values are that
    close; each flip moves one value to the neighbouring pixel and changes nearby logits by
    ~1e-3. So ``max_abs_diff`` is ~1e-7 for most inputs and ~1e-3 for a few, while
    ``mean_abs_diff`` stays ~1e-8 and ``argmax_agreement`` ~1.
    """
    x = _example(model, _check_size(size), batch, seed)
    model = getattr(model, "module", model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            reference = model(x).float()
    finally:
        model.train(was_training)
    exported = runner(x).float()
    diff = (reference - exported).abs()
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "argmax_agreement": float((reference.argmax(1) == exported.argmax(1)).float().mean()),
    }


def check_onnx(
    path: str | Path, model: nn.Module, size: tuple[int, int], batch: int = 1, seed: int = 0
) -> dict[str, float]:
    """:func:`compare` the ONNX file (in onnxruntime) with ``model`` at ``size``."""
    return compare(onnx_runner(path), model, size, batch, seed)


def check_pt2(
    path: str | Path, model: nn.Module, size: tuple[int, int], batch: int = 1, seed: int = 0
) -> dict[str, float]:
    """:func:`compare` the ``.pt2`` program (``torch.export.load``) with ``model`` at ``size``."""
    return compare(pt2_runner(path), model, size, batch, seed)


# --- Metadata ---------------------------------------------------------------------------------


def checkpoint_metadata(loaded: LoadedModel) -> dict[str, str]:
    """What a user needs to run an exported model without its checkpoint (all values strings).

    The export itself adds ``segnet.input_size``, ``segnet.dynamic`` (and for dynamic exports
    ``segnet.min_input_size``), ``segnet.input`` and ``segnet.output``.
    """
    meta = {
        "segnet.model": loaded.spec.name,
        "segnet.spec": json.dumps(loaded.spec.to_dict()),
        "segnet.classes": json.dumps(loaded.classes.to_dict()),
        "segnet.mean": json.dumps(list(loaded.mean)),
        "segnet.std": json.dumps(list(loaded.std)),
    }
    if loaded.size:
        meta["segnet.training_size"] = f"{loaded.size[0]}x{loaded.size[1]}"
    if loaded.prior_shift_alpha is not None:  # already in the weights; recorded for provenance
        meta["segnet.prior_shift_alpha"] = f"{loaded.prior_shift_alpha:g}"
    if loaded.prior_offsets is not None:  # so a CRF after the export can take part of the shift back
        meta["segnet.prior_offsets"] = json.dumps(list(loaded.prior_offsets))
    return meta
