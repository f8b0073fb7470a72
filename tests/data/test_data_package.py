"""Package surface: build_dataset, default_root, and data staying a leaf."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from segnet import data
from segnet.data import CamVid, FolderDataset, build_dataset, default_root


def test_build_dataset_by_name(tmp_path, write_image) -> None:
    write_image(tmp_path / "val" / "a.png", np.zeros((4, 4, 3), np.uint8))
    write_image(tmp_path / "valannot" / "a.png", np.zeros((4, 4), np.uint8))
    ds = build_dataset("CamVid", tmp_path, "val", seed=5)
    assert isinstance(ds, CamVid) and ds.seed == 5 and len(ds) == 1


def test_build_folder_dataset_without_split(tmp_path, write_image) -> None:
    write_image(tmp_path / "images" / "a.png", np.zeros((4, 4, 3), np.uint8))
    write_image(tmp_path / "masks" / "a.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "classes.json").write_text('{"names": ["a"], "colors": [[1, 1, 1]], "ignore_index": 255}')
    assert isinstance(build_dataset("folder", tmp_path, None), FolderDataset)


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(ValueError, match="camvid, folder, sunrgbd"):
        build_dataset("cityscapes", "/tmp", "train")


def test_default_root_honours_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEGNET_CAMVID", str(tmp_path))
    assert default_root("camvid") == tmp_path
    monkeypatch.delenv("SEGNET_CAMVID")
    work = tmp_path / "project"
    (tmp_path / "shared" / "camvid").mkdir(parents=True)
    work.mkdir()
    monkeypatch.chdir(work)
    assert default_root("camvid") == (tmp_path / "shared" / "camvid").resolve()


def test_installed_default_root_is_the_user_data_folder(monkeypatch, tmp_path) -> None:
    """In a wheel (no pyproject.toml above the package) nothing points into site-packages."""
    monkeypatch.delenv("SEGNET_CAMVID", raising=False)
    monkeypatch.setattr(data, "_REPO_ROOT", tmp_path / "site-packages-parent")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert default_root("camvid") == tmp_path / "xdg" / "segnet" / "camvid"


def test_data_is_a_leaf() -> None:
    forbidden = ("segnet.models", "segnet.metrics", "segnet.engine", "segnet.cli")
    for path in Path(data.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
                assert node.level == 0 or path.name == "__init__.py", f"{path.name}: use absolute imports"
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
                assert "torchvision" not in name, f"{path.name} imports torchvision"
