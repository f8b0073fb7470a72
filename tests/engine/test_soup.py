"""`segnet soup`: checkpoints of one model averaged into one, checked against torch's own averaging."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch.optim.swa_utils import AveragedModel

from segnet.checkpoint import atomic_save, load_model, make_checkpoint, read_checkpoint
from segnet.cli.main import main
from segnet.data import CAMVID_CLASSES
from segnet.models import create_model
from segnet.soup import make_soup, soup_weights

MEAN, STD, SIZE = (0.5,) * 3, (0.25,) * 3, (32, 48)


def _trained_like(seed: int, name: str = "segnet_basic", classes: int = 11) -> torch.nn.Module:
    """A model with random weights and BatchNorm statistics, as if trained from its own seed."""
    torch.manual_seed(seed)
    model = create_model(name, classes)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(100 + seed)
    return model.eval()


def _save(model: torch.nn.Module, path: Path, **extra) -> Path:
    atomic_save(make_checkpoint(model, CAMVID_CLASSES, MEAN, STD, SIZE, **extra), path)
    return path


def test_a_uniform_soup_is_torchs_running_average_of_weights_and_statistics(tmp_path, capsys):
    models = [_trained_like(seed) for seed in (1, 2, 3)]
    paths = [_save(m, tmp_path / f"run{i}.pt", config={"train_split": "train+val"}, optimizer={"state": 1},
                   bn_refresh={"frames": 4}, int8_ranges={"x": (0.0, 1.0)})
             for i, m in enumerate(models)]
    assert main(["soup", *map(str, paths), "--output", str(tmp_path / "soup.pt")]) == 0
    assert "soup of run0.pt 0.333, run1.pt 0.333, run2.pt 0.333 written to" in capsys.readouterr().out

    reference = AveragedModel(models[0], use_buffers=True)  # torch's equal-weight running mean
    for model in models:  # its first update copies, the next ones average
        reference.update_parameters(model)
    soup = load_model(tmp_path / "soup.pt").model
    expected = reference.module.state_dict()
    for key, tensor in soup.state_dict().items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, expected[key], rtol=0, atol=1e-6, msg=key)
        else:  # BatchNorm's step counter: the first run's
            assert torch.equal(tensor, models[0].state_dict()[key]), key
    images = torch.randn(2, 3, *SIZE)
    with torch.no_grad():
        torch.testing.assert_close(soup(images), reference.module.eval()(images), rtol=0, atol=1e-4)

    data = read_checkpoint(tmp_path / "soup.pt")
    assert data["config"] == {"train_split": "train+val"}  # shift-prior reads the run's split from it
    assert not {"optimizer", "bn_refresh", "int8_ranges"} & data.keys()  # measured on other weights
    assert [part["path"] for part in data["soup_of"]] == list(map(str, paths))


def test_shares_weight_the_average_and_half_precision_parts_are_averaged_in_float32(tmp_path):
    first, second = _trained_like(1), _trained_like(2)
    half = copy.deepcopy(second).half()
    paths = [_save(first, tmp_path / "a.pt"), _save(half, tmp_path / "b.pt")]
    assert main(["soup", *map(str, paths), "--weights", "1,3", "--output", str(tmp_path / "s.pt")]) == 0
    state = read_checkpoint(tmp_path / "s.pt")["state_dict"]
    for key, tensor in first.state_dict().items():
        if tensor.is_floating_point():
            expected = 0.25 * tensor + 0.75 * half.state_dict()[key].float()
            assert state[key].dtype == torch.float32
            torch.testing.assert_close(state[key], expected, rtol=0, atol=1e-6, msg=key)
    assert [part["share"] for part in read_checkpoint(tmp_path / "s.pt")["soup_of"]] == [0.25, 0.75]


def test_shares_are_normalised_and_checked():
    assert soup_weights(4) == [0.25] * 4
    assert soup_weights(2, [2, 6]) == [0.25, 0.75]
    for count, weights, message in [(1, None, "at least 2 checkpoints, got 1"), (2, [1.0], "1 weights for 2"),
                                    (2, [1.0, -1.0], "non-negative"), (2, [0.0, 0.0], "not all 0"),
                                    (2, [1.0, float("nan")], "non-negative")]:
        with pytest.raises(ValueError, match=message):
            soup_weights(count, weights)


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> dict[str, tuple[list[str], str]]:
    """Each case's command line and the words its error must hold (the files are written once)."""
    tmp_path = tmp_path_factory.mktemp("soup_variants")
    good = str(_save(_trained_like(1), tmp_path / "good.pt"))
    other = str(_save(_trained_like(2), tmp_path / "other.pt"))
    deeper = str(_save(_trained_like(3, "segnet", 11), tmp_path / "deeper.pt"))
    fewer = str(_save(_trained_like(4, classes=5), tmp_path / "fewer.pt"))
    atomic_save(make_checkpoint(_trained_like(5), CAMVID_CLASSES, MEAN, STD, (64, 96)), tmp_path / "bigger.pt")
    _save(_trained_like(6), tmp_path / "shifted.pt", prior_shift={"alpha": 0.3, "offsets": [0.0] * 11})
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    broken = make_checkpoint(_trained_like(7), CAMVID_CLASSES, MEAN, STD, SIZE)
    broken["state_dict"] = {"classifier.weight": torch.zeros(3)}
    atomic_save(broken, tmp_path / "broken.pt")
    out = ["--output", str(tmp_path / "s.pt")]
    return {"_folder": ([], str(tmp_path)),
        "only one": ([good, *out], "at least 2 checkpoints, got 1"),
        "missing": ([good, str(tmp_path / "nope.pt"), *out], "nope.pt: checkpoint not found"),
        "junk": ([good, str(tmp_path / "junk.pt"), *out], "junk.pt: not a readable checkpoint"),
        "twice": ([good, good, *out], "a checkpoint is named twice"),
        "broken": ([good, str(tmp_path / "broken.pt"), *out], "broken.pt: weights do not fit model 'segnet_basic'"),
        "other model": ([good, deeper, *out], "deeper.pt: its model entry differs from"),
        "other classes": ([good, fewer, *out], "fewer.pt: its model entry differs"),
        "other size": ([good, str(tmp_path / "bigger.pt"), *out], "bigger.pt: its size entry differs"),
        "shifted": ([good, str(tmp_path / "shifted.pt"), *out], "shifted.pt: its class prior is shifted"),
        "weights count": ([good, other, "--weights", "1,2,3", *out], "3 weights for 2 checkpoints"),
        "weights text": ([good, other, "--weights", "1,x", *out], "--weights 1,x: expected numbers"),
        "negative": ([good, other, "--weights", "1,-1", *out], "non-negative"),
        "output folder": ([good, other, "--output", str(tmp_path)], "is a folder"),
    }


@pytest.mark.parametrize("case", ["only one", "missing", "junk", "twice", "broken", "other model", "other classes",
                                  "other size", "shifted", "weights count", "weights text", "negative",
                                  "output folder"])
def test_what_cannot_be_souped_is_one_line_naming_the_file_or_value(variants, capsys, case):
    argv, message = variants[case]
    assert main(["soup", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("segnet soup: error: ") and message in err and "\n" not in err
    assert not (Path(variants["_folder"][1]) / "s.pt").exists()


def test_different_layers_are_named():
    state = _trained_like(1).state_dict()
    fewer = {key: value for key, value in state.items() if not key.startswith("classifier")}
    data = [{"state_dict": state}, {"state_dict": fewer}]
    with pytest.raises(ValueError, match="b.pt: holds different layers from a.pt .e.g. classifier"):
        make_soup(data, ["a.pt", "b.pt"])
    wider = dict(state, **{"classifier.bias": torch.zeros(12)})
    with pytest.raises(ValueError, match=r"b.pt: classifier.bias is \(12,\), \(11,\) in a.pt"):
        make_soup([{"state_dict": state}, {"state_dict": wider}], ["a.pt", "b.pt"])
