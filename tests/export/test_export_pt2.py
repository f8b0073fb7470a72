"""`.pt2` programs from torch.export load back with torch.export.load and match PyTorch."""

import json

import pytest
import torch

from segnet.checkpoint import load_model
from segnet.export import read_pt2_metadata


@pytest.fixture(scope="module")
def dynamic_pt2(basic_checkpoint, tmp_path_factory, run_cli):
    """SegNet-Basic as a dynamic .pt2 through the CLI (format from the suffix), with --check."""
    path = tmp_path_factory.mktemp("pt2") / "basic.pt2"
    code, out, err = run_cli(["export", "--weights", str(basic_checkpoint), "--output", str(path),
                              "--size", "48x64", "--dynamic", "--check"])
    assert code == 0, out
    return path, out, err


def test_cli_checks_two_sizes_and_the_program_matches_pytorch_exactly(dynamic_pt2):
    """--check runs the loaded program (torch.export.load) against the checkpoint's model."""
    _, out, _ = dynamic_pt2
    assert out.startswith("tracing with symbolic batch/height/width")  # the long trace is announced
    assert "exported segnet_basic (dynamic batch/height/width, fp32)" in out
    lines = [line for line in out.splitlines() if line.startswith("check ")]
    # Batch 1 (the trace's example has 2), the export's size, then an odd one.
    assert [line.split(":")[0] for line in lines] == ["check 1x48x64", "check 1x57x79"]
    # The same CPU kernels in the same order as eager PyTorch: not even rounding differs.
    assert all(line.endswith("max |logit difference| 0 (mean 0), argmax agreement 100.00%")
               for line in lines), lines


def test_metadata_travels_in_the_archive(dynamic_pt2, basic_checkpoint):
    meta = read_pt2_metadata(dynamic_pt2[0])
    assert meta["segnet.model"] == "segnet_basic"
    assert json.loads(meta["segnet.classes"])["names"] == list(load_model(basic_checkpoint).classes.names)
    assert meta["segnet.dynamic"] == "true" and meta["segnet.min_input_size"] == "17"


def test_a_static_pt2_runs_through_segnet_load_quietly(basic_checkpoint, tmp_path, run_cli):
    """`segnet.load(file.pt2)` runs the program as exported, without torch's internal deprecation noise."""
    import warnings

    import segnet

    path = tmp_path / "static.pt2"
    code, out, err = run_cli(["export", "--weights", str(basic_checkpoint), "--output", str(path), "--size", "48x64"])
    assert code == 0, err
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = segnet.load(path, tta="none")
    assert not [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    # Run as exported: not copied and "optimised" again as a checkpoint's model is (the copy was
    # where torch's pytree warned).
    assert model.backend == "torch" and model.precision == "fp32" and model.size == (48, 64)
    assert model.classes.names == load_model(basic_checkpoint).classes.names
    x = torch.randn(1, 3, 48, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(model.model(x), load_model(basic_checkpoint).model(x))
