import pytest
import torch

import segnet
from segnet.data import CAMVID_CLASSES
from segnet.engine import CheckpointError, atomic_save, load_model
from segnet.checkpoint import make_checkpoint


def test_atomic_save_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_save({"value": 1}, path)

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        atomic_save({"value": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"value": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind


def test_checkpoint_rebuilds_model_alone(tmp_path):
    model = segnet.create_model("segnet_basic", 11)
    path = tmp_path / "best.pt"
    atomic_save(make_checkpoint(model, CAMVID_CLASSES, (0.5,) * 3, (0.25,) * 3, (96, 128)), path)
    loaded = load_model(path)
    assert loaded.spec.name == "segnet_basic" and loaded.classes == CAMVID_CLASSES
    assert loaded.size == (96, 128) and loaded.mean == (0.5,) * 3
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pt: checkpoint not found"):
        load_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="other.pt: not a segnet checkpoint"):
        load_model(other)
    good = tmp_path / "good.pt"
    atomic_save(make_checkpoint(segnet.create_model("segnet_basic", 11), CAMVID_CLASSES, (0,) * 3, (1,) * 3, None), good)
    with pytest.raises(CheckpointError, match="11 classes, the dataset has 37"):
        load_model(good, expect_num_classes=37)
    with pytest.raises(CheckpointError, match="holds model 'segnet_basic', expected 'segnet'"):
        load_model(good, expect_model="segnet")
