"""Optional extras (serve, video, export): a missing one is named with the pip command that brings it."""

import importlib.util

import pytest

from segnet.extras import EXTRAS, MissingExtra, require


def _hide(monkeypatch, module: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))


def test_serve_without_its_extra_is_a_one_line_error(monkeypatch, capsys):
    from segnet.cli.main import main

    _hide(monkeypatch, "multipart")
    code = main(["serve", "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "needs python-multipart" in err and "pip install 'segnet[serve]'" in err


def test_video_without_its_extra_names_it(monkeypatch, tmp_path):
    from segnet.video import VideoReader, VideoWriter

    _hide(monkeypatch, "av")
    with pytest.raises(MissingExtra, match=r"needs av, which is not installed; pip install 'segnet\[video\]'"):
        VideoWriter(tmp_path / "x.mp4", 25)
    (tmp_path / "clip.mp4").write_bytes(b"")
    with pytest.raises(MissingExtra, match="segnet\\[video\\]"):
        VideoReader(tmp_path / "clip.mp4")


def test_require_lists_only_what_is_missing(monkeypatch):
    require("serve", "x")  # installed here: no error
    _hide(monkeypatch, "onnxruntime")
    require("export", "x", only=("onnx", "onnxscript"))
    with pytest.raises(MissingExtra) as caught:
        require("export", "ONNX export")
    assert str(caught.value).startswith("ONNX export needs onnxruntime, which is not installed")
    assert all(pip in str(caught.value) for _, pip in EXTRAS["export"])
