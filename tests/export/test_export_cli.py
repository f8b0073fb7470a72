"""`segnet export`'s help and its one-line errors (no export runs here)."""

import pytest


def test_help_lists_the_options(run_cli):
    code, out, _ = run_cli(["export", "--help"])
    assert code == 0
    assert out.startswith("usage: segnet export")
    for option in ("--weights", "--format", "--output", "--size", "--dynamic", "--opset", "--batch", "--check"):
        assert option in out


def test_missing_checkpoint_is_one_line_error(run_cli, tmp_path):
    code, out, err = run_cli(["export", "--weights", str(tmp_path / "nope.pt"), "--output", str(tmp_path / "m.onnx")])
    assert code == 2 and out == ""
    assert err.strip() == f"segnet export: error: {tmp_path / 'nope.pt'}: checkpoint not found"
    assert not (tmp_path / "m.onnx").exists()


def test_not_a_checkpoint_is_one_line_error(run_cli, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code, _, err = run_cli(["export", "--weights", str(bad), "--output", str(tmp_path / "m.onnx")])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "not a readable checkpoint" in err


@pytest.mark.parametrize("argv,message", [
    (["--format", "pt2", "--opset", "18"], "--opset applies to ONNX exports only"),
    (["--opset", "13"], "opset 13 is too old"),
    (["--size", "big"], "size 'big' is not of the form HxW"),
    (["--size", "8x8"], "SegNetBasic needs inputs of at least 16x16, got 8x8"),
    (["--size", "16x40", "--dynamic"], "needs at least 17x17 (deepest map 2x2)"),
    (["--batch", "0"], "batch must be at least 1"),
])
def test_bad_options_are_one_line_errors(run_cli, basic_checkpoint, tmp_path, argv, message):
    code, _, err = run_cli(["export", "--weights", str(basic_checkpoint), "--output", str(tmp_path / "m.onnx"), *argv])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("name, message", [
    ("m.txt", "unknown suffix '.txt'; use .onnx or .pt2"),
    ("m", "unknown suffix '(none)'"),
])
def test_unknown_output_suffix_is_refused(run_cli, basic_checkpoint, tmp_path, name, message):
    code, _, err = run_cli(["export", "--weights", str(basic_checkpoint), "--output", str(tmp_path / name)])
    assert code == 2 and message in err
    assert not (tmp_path / name).exists()


def test_export_never_overwrites_its_own_checkpoint(run_cli, basic_checkpoint, tmp_path):
    import shutil

    victim = tmp_path / "victim.pt2"
    shutil.copy(basic_checkpoint, victim)
    before = victim.read_bytes()
    code, _, err = run_cli(["export", "--weights", str(victim), "--output", str(victim)])
    assert code == 2 and "is the checkpoint being exported" in err
    assert victim.read_bytes() == before


def test_format_and_suffix_must_agree(run_cli, basic_checkpoint, tmp_path):
    code, _, err = run_cli(["export", "--weights", str(basic_checkpoint), "--output", str(tmp_path / "m.onnx"),
                            "--format", "pt2"])
    assert code == 2 and "the suffix says onnx, --format says pt2" in err


def test_missing_export_extra_is_named(run_cli, basic_checkpoint, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    code, _, err = run_cli(["export", "--weights", str(basic_checkpoint), "--output", str(tmp_path / "m.onnx")])
    assert code == 2 and "ONNX export needs onnxscript" in err and "segnet[export]" in err
    assert len(err.strip().splitlines()) == 1

