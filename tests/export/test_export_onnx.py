"""ONNX files run in onnxruntime and match PyTorch, with standard ops and self-describing metadata."""

import json

import onnx
import onnxruntime as ort
import pytest
import torch

from segnet.checkpoint import load_model
from segnet.data import CAMVID_CLASSES, ClassSet
from segnet.export import check_onnx, export_onnx, read_onnx_metadata
from segnet.models import create_model

TOLERANCE = 1e-4  # float32 logits, onnxruntime vs PyTorch


def assert_matches(path, model, x):
    with torch.no_grad():
        expected = model.eval()(x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"image": x.numpy()})
    got = torch.from_numpy(got)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= TOLERANCE
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert expected.std().item() > 0.01  # logits spread enough for the tolerance to mean something


@pytest.fixture(scope="module")
def static_basic(basic_checkpoint, tmp_path_factory, run_cli):
    """SegNet-Basic exported through the CLI at an odd size, with --check: (path, stdout)."""
    path = tmp_path_factory.mktemp("onnx") / "new" / "basic.onnx"  # a folder the export makes
    code, out, _ = run_cli(["export", "--weights", str(basic_checkpoint), "--format", "onnx",
                            "--output", str(path), "--size", "45x61", "--check"])
    assert code == 0
    return path, out


def test_cli_export_and_check(static_basic):
    path, out = static_basic
    assert path.is_file()
    assert "exported segnet_basic (static 1x45x61, fp32)" in out
    line = next(l for l in out.splitlines() if l.startswith("check 1x45x61:"))
    assert "max |logit difference|" in line and "argmax agreement" in line


def test_static_odd_size_matches_pytorch(static_basic, basic_checkpoint, well_separated):
    model = load_model(basic_checkpoint).model
    assert_matches(static_basic[0], model, well_separated(model, (1, 3, 45, 61)))


def test_graph_uses_only_standard_onnx_ops(static_basic):
    model = onnx.load(str(static_basic[0]))
    onnx.checker.check_model(model)
    ops = {(node.domain, node.op_type) for node in model.graph.node}
    assert {domain for domain, _ in ops} <= {"", "ai.onnx"}, ops  # no ATen/custom fallbacks
    assert not model.functions
    assert all(opset.domain in ("", "ai.onnx") for opset in model.opset_import)
    op_types = {op for _, op in ops}
    assert {"Conv", "Where", "Equal", "Max", "DepthToSpace"} <= op_types
    assert not op_types & {"MaxPool", "MaxUnpool", "ScatterND", "ScatterElements"}


def test_metadata_describes_the_model(static_basic, basic_checkpoint):
    loaded = load_model(basic_checkpoint)
    meta = read_onnx_metadata(static_basic[0])
    assert meta["segnet.model"] == "segnet_basic"
    assert ClassSet.from_dict(json.loads(meta["segnet.classes"])) == CAMVID_CLASSES
    assert tuple(json.loads(meta["segnet.mean"])) == loaded.mean
    assert tuple(json.loads(meta["segnet.std"])) == loaded.std
    assert meta["segnet.input_size"] == "45x61" and meta["segnet.dynamic"] == "false"
    assert meta["segnet.training_size"] == "48x64"
    assert json.loads(meta["segnet.spec"])["num_classes"] == CAMVID_CLASSES.num_classes


def test_dynamic_export_runs_at_other_sizes(basic_checkpoint, tmp_path, well_separated):
    model = load_model(basic_checkpoint).model
    path = export_onnx(model, tmp_path / "dynamic.onnx", (64, 80), dynamic=True)
    graph = onnx.load(str(path)).graph
    for value in (graph.input[0], graph.output[0]):
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims[0] == "batch" and dims[2:] == ["height", "width"]
    assert_matches(path, model, well_separated(model, (1, 3, 64, 80)))
    assert_matches(path, model, well_separated(model, (2, 3, 72, 96)))
    assert_matches(path, model, well_separated(model, (1, 3, 17, 35)))  # smallest; odd at every level
    assert read_onnx_metadata(path)["segnet.min_input_size"] == "17"


def test_five_pooling_segnet_matches(tmp_path, scrambled, well_separated):
    torch.manual_seed(0)
    # Bayesian SegNet: the paper's 5-pooling SegNet (dropout is off in eval mode).
    model = scrambled(create_model("bayesian_segnet", 4), seed=1)
    path = export_onnx(model, tmp_path / "segnet.onnx", (64, 64), opset=18, metadata={"note": [1, 2]})
    assert onnx.load(str(path)).opset_import[0].version == 18
    assert read_onnx_metadata(path)["note"] == "[1, 2]"
    assert_matches(path, model, well_separated(model, (1, 3, 64, 64)))
    result = check_onnx(path, model, (64, 64))
    assert result["argmax_agreement"] > 0.99
