import pytest
import torch

import segnet
from segnet.models import WeightsError, load_vgg16_encoder_weights
from segnet.models.vgg import make_vgg16_state_dict

BN_CONVS = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)
PLAIN_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def test_vgg16_bn_layout_fills_every_encoder_tensor(tmp_path):
    state = make_vgg16_state_dict(batch_norm=True)
    path = tmp_path / "vgg16_bn.pth"
    torch.save(state, path)
    model = segnet.create_model("segnet", 11)
    assert load_vgg16_encoder_weights(model.encoder, path) == "vgg16_bn"
    units = model.encoder.conv_units()
    assert len(units) == 13
    for unit, pos in zip(units, BN_CONVS):
        assert torch.equal(unit.conv.weight, state[f"features.{pos}.weight"])
        assert torch.equal(unit.conv.bias, state[f"features.{pos}.bias"])
        for name in ("weight", "bias", "running_mean", "running_var"):
            assert torch.equal(getattr(unit.bn, name), state[f"features.{pos + 1}.{name}"])
    encoder_tensors = dict(model.encoder.state_dict())
    assert sum(t.numel() for k, t in encoder_tensors.items() if "num_batches" not in k) == sum(
        state[f"features.{p}.{n}"].numel() for p in BN_CONVS for n in ("weight", "bias")
    ) + sum(state[f"features.{p + 1}.{n}"].numel() for p in BN_CONVS
            for n in ("weight", "bias", "running_mean", "running_var"))


def test_vgg16_plain_layout_and_rgbd_input():
    state = make_vgg16_state_dict(batch_norm=False)
    model = segnet.create_model("segnet", 37, in_channels=4)
    assert load_vgg16_encoder_weights(model.encoder, state) == "vgg16"
    first = model.encoder.conv_units()[0].conv.weight
    assert torch.equal(first[:, :3], state["features.0.weight"])
    assert torch.allclose(first[:, 3], state["features.0.weight"].mean(1))
    for unit, pos in zip(model.encoder.conv_units()[1:], PLAIN_CONVS[1:]):
        assert torch.equal(unit.conv.weight, state[f"features.{pos}.weight"])


def test_mismatch_names_key_and_shapes():
    state = make_vgg16_state_dict(batch_norm=True)
    state["features.7.weight"] = torch.zeros(128, 64, 5, 5)
    model = segnet.create_model("segnet", 11)
    with pytest.raises(WeightsError, match=r"features\.7\.weight.*\(128, 64, 5, 5\).*\(128, 64, 3, 3\)"):
        load_vgg16_encoder_weights(model.encoder, state)


def test_wrong_file_errors(tmp_path):
    model = segnet.create_model("segnet", 11)
    with pytest.raises(WeightsError, match="not found"):
        load_vgg16_encoder_weights(model.encoder, tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="bad.pth"):
        load_vgg16_encoder_weights(model.encoder, bad)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(WeightsError, match="features.0.weight"):
        load_vgg16_encoder_weights(model.encoder, other)
