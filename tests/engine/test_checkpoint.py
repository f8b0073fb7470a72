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


def _handcrafted(tmp_path, **changes):
    data = make_checkpoint(segnet.create_model("segnet_basic", 11), CAMVID_CLASSES, (0.5,) * 3, (0.25,) * 3, (64, 96))
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / "crafted.pt"
    torch.save(data, path)
    return path


@pytest.mark.parametrize("changes, message", [
    ({"state_dict": None}, "no 'state_dict' entry"),
    ({"classes": None}, "no 'classes' entry"),
    ({"model": {"num_classes": 11}}, "unusable model entry"),
    ({"size": [0, 0]}, "size entry 0x0 is not a positive size"),
    ({"size": [64]}, "size entry [64] is not [height, width]"),
    ({"int8_ranges": {"conv": [1.0]}}, "int8_ranges entry is not a map of (low, high) pairs"),
    ({"int8_ranges": {"conv": [2.0, -1.0]}}, "int8 range of conv is [2.0, -1.0]"),
    ({"int8_ranges": {"conv": [0.0, float("inf")]}}, "int8 range of conv is [0.0, inf]"),
    ({"normalization": {"mean": [0.5] * 3, "std": [0.0] * 3}}, "one positive std per mean"),
    ({"normalization": {"mean": [0.5] * 3}}, "unusable classes or normalisation entry"),
    ({"prior_shift": {"offsets": [0.1]}}, "prior_shift entry {'offsets': [0.1]} has no alpha"),
    ({"prior_shift": 0.3}, "prior_shift entry 0.3 has no alpha"),
    ({"prior_shift": {"alpha": float("nan")}}, "prior_shift alpha nan is not from 0 to 1"),
    ({"prior_shift": {"alpha": 0.3, "offsets": [0.1, 0.2]}}, "prior_shift offsets must be 11 finite numbers"),
    ({"prior_shift": {"alpha": 0.3, "offsets": [float("nan")] * 11}}, "prior_shift offsets must be 11 finite"),
    ({"prior_shift": {"alpha": 0.3, "offsets": "x"}}, "prior_shift offsets must be 11 finite numbers"),
])
def test_handcrafted_checkpoints_are_one_clear_error(tmp_path, changes, message):
    path = _handcrafted(tmp_path, **changes)
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:") and message in text and len(text.splitlines()) == 1


def test_a_working_size_the_model_cannot_take_fails_at_load():
    with pytest.raises(ValueError, match="working size 10x10: .*needs inputs of at least 16x16"):
        segnet.load(size=(10, 10), precision="fp32")


def test_checkpoints_get_the_permissions_a_plain_open_would_give(tmp_path):
    import os
    import stat

    from segnet.checkpoint import atomic_save, atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_save({"x": 1}, tmp_path / "a.pt")
        atomic_write_text(tmp_path / "b.json", "{}")
        (tmp_path / "c.txt").write_text("plain")
    finally:
        os.umask(old)
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("a.pt", "b.json", "c.txt")}
    assert modes == {"a.pt": 0o644, "b.json": 0o644, "c.txt": 0o644}  # mkstemp alone would give 0o600
