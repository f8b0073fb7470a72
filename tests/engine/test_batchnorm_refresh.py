"""`segnet refresh-bn`: BatchNorm statistics averaged over clean frames, nothing else touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from segnet.checkpoint import load_model
from segnet.cli.main import main
from segnet.engine import TrainConfig, train
from segnet.engine.batchnorm_refresh import refresh_batchnorm


def _net(dropout: float = 0.0) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Dropout(dropout), nn.BatchNorm2d(4, momentum=0.3))


def test_statistics_are_the_plain_average_over_batches():
    net = _net()
    batches = [torch.randn(3, 3, 8, 8) * (i + 1) + i for i in range(4)]
    refresh_batchnorm(net, batches, torch.device("cpu"))
    conv, norm = net[0], net[2]
    with torch.no_grad():
        features = [conv(batch) for batch in batches]
    means = torch.stack([f.mean((0, 2, 3)) for f in features]).mean(0)
    variances = torch.stack([f.transpose(0, 1).flatten(1).var(1, unbiased=True) for f in features]).mean(0)
    torch.testing.assert_close(norm.running_mean, means, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm.running_var, variances, rtol=1e-5, atol=1e-6)


def test_weights_mode_and_momentum_are_left_as_they_were_and_dropout_stays_off():
    net, plain = _net(dropout=0.9), _net()
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k}
    net.train()
    batches = [torch.randn(2, 3, 8, 8) for _ in range(3)]
    assert refresh_batchnorm(net, batches, torch.device("cpu")) == 6
    refresh_batchnorm(plain, batches, torch.device("cpu"))
    assert net.training and net[2].momentum == 0.3
    for key, value in before.items():
        assert torch.equal(net.state_dict()[key], value), key
    torch.testing.assert_close(net[2].running_mean, plain[2].running_mean)  # dropout did not run


def test_a_model_without_batchnorm_or_without_frames_is_refused():
    with pytest.raises(ValueError, match="no BatchNorm"):
        refresh_batchnorm(nn.Conv2d(3, 3, 1), [torch.randn(1, 3, 4, 4)], torch.device("cpu"))
    with pytest.raises(ValueError, match="no frames"):
        refresh_batchnorm(_net(), [], torch.device("cpu"))


def _train(root: Path, run_dir: Path) -> Path:
    train(TrainConfig(model="segnet_basic", data_root=str(root), size=(48, 64), epochs=1, batch_size=4, workers=0,
                      run_dir=str(run_dir), val_split=None, lr=0.05, color_jitter=0.25), progress_bar=False)
    return run_dir / "last.pt"


def test_cli_writes_a_checkpoint_with_new_statistics_and_the_same_weights(tiny_camvid, tmp_path, capsys):
    last = _train(tiny_camvid, tmp_path / "run")
    out = tmp_path / "bn.pt"
    code = main(["refresh-bn", "--weights", str(last), "--data-root", str(tiny_camvid), "--split", "train+val",
                 "--scales", "0.5,1", "--batch-size", "4", "--workers", "0", "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "24 frames (12 of train+val at 32x32, 48x64)" in printed  # 0.5 x 48x64 rounds to multiples of 16
    old, new = torch.load(last, weights_only=False), torch.load(out, weights_only=False)
    assert "optimizer" not in new and "int8_ranges" not in new
    assert new["bn_refresh"]["sizes"] == [[32, 32], [48, 64]] and new["bn_refresh"]["frames"] == 24
    for key, value in old["state_dict"].items():
        changed = not torch.equal(value, new["state_dict"][key])
        assert changed == ("running" in key or "num_batches" in key), key
    assert load_model(out).size == (48, 64)


def test_cli_names_a_bad_scale_and_an_unknown_sequence(tiny_camvid, tmp_path, capsys):
    last = _train(tiny_camvid, tmp_path / "run")
    assert main(["refresh-bn", "--weights", str(last), "--scales", "0.5,big"]) == 2
    assert "--scales 0.5,big: expected numbers" in capsys.readouterr().err
    code = main(["refresh-bn", "--weights", str(last), "--data-root", str(tiny_camvid), "--holdout", "0006R0",
                 "--workers", "0", "--output", str(tmp_path / "x.pt")])
    assert code == 2 and "0006R0" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
