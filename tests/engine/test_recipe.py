"""The training recipe's parts: schedules with warm-up, crops at the working size, held-out
sequences, and starting from another run's weights."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segnet.data import frame_sequence
from segnet.engine import TrainConfig, read_checkpoint, train
from segnet.engine.trainer import learning_rate, training_datasets, training_transform



def make_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Sky over road with void in a corner; the image's colour follows the label."""
    label = np.full((height, width), 3, dtype=np.uint8)
    label[: height // 3] = 0
    label[-2:, :5] = 11
    image = np.where(label[..., None] == 0, (70, 130, 220), (120, 120, 120)) + rng.normal(0, 10, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), label


def _two_sequence_camvid(root: Path) -> Path:
    rng = np.random.default_rng(0)
    layout = {"train": ["AAA_0", "AAA_1", "AAA_2", "BBB_0", "BBB_1", "CCC_0"], "val": ["AAA_3", "BBB_2"]}
    for split, stems in layout.items():
        for stem in stems:
            image, label = make_scene(rng, 48, 64)
            for folder, array in ((split, image), (f"{split}annot", label)):
                (root / folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(root / folder / f"{stem}.png")
    return root


@pytest.fixture(scope="module")
def sequences_root(tmp_path_factory) -> Path:
    return _two_sequence_camvid(tmp_path_factory.mktemp("sequences"))


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"lr": 0.1, "epochs": 10, **kw})


def test_poly_schedule_by_hand():
    cfg = _cfg(schedule="poly")
    assert learning_rate(cfg, 0, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 50, 100) == pytest.approx(0.1 * 0.5 ** 0.9)
    assert learning_rate(cfg, 100, 100) == pytest.approx(0.0)


def test_cosine_schedule_by_hand():
    cfg = _cfg(schedule="cosine")
    assert learning_rate(cfg, 0, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 25, 100) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert learning_rate(cfg, 50, 100) == pytest.approx(0.05)
    assert learning_rate(cfg, 100, 100) == pytest.approx(0.0, abs=1e-12)


def test_warm_up_rises_linearly_then_the_schedule_spans_the_rest():
    cfg = _cfg(schedule="cosine", warmup_epochs=2)  # 10 steps per epoch: 20 warm-up steps
    assert learning_rate(cfg, 0, 120, 10) == pytest.approx(0.001)
    assert learning_rate(cfg, 10, 120, 10) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert learning_rate(cfg, 20, 120, 10) == pytest.approx(0.1)
    assert learning_rate(cfg, 70, 120, 10) == pytest.approx(0.05)  # half-way through the 100 cosine steps
    lrs = [learning_rate(cfg, step, 120, 10) for step in range(21)]
    assert all(b > a for a, b in zip(lrs, lrs[1:]))


def test_crop_is_taken_at_the_working_size():
    cfg = _cfg(size=(40, 60), crop=(16, 24), scale_range=(1.0, 1.0))
    transform = training_transform(cfg, ignore_index=11)
    from segnet.data.transforms import Sample

    image = np.arange(80 * 120 * 3, dtype=np.uint32).reshape(80, 120, 3) % 251
    label = np.tile(np.arange(120) // 10, (80, 1))  # column bands 0..11 (11 = void) at 80x120
    out = transform(Sample.from_arrays(Image.fromarray(image.astype(np.uint8)), label), np.random.default_rng(0))
    assert tuple(out.image.shape) == (3, 16, 24) and tuple(out.label.shape) == (16, 24)
    # At the 40x60 working size each band is 5 columns wide: a 24-wide crop meets 5 or 6 bands,
    # never the 12 that a crop of the full 80x120 frame's width would.
    assert len(set(out.label.unique().tolist())) <= 6


def test_colour_jitter_enters_the_pipeline_only_when_asked():
    names = lambda cfg: [type(t).__name__ for t in training_transform(cfg, 11).transforms]  # noqa: E731
    assert "ColorJitter" not in names(_cfg(size=(32, 32)))
    assert "ColorJitter" in names(_cfg(size=(32, 32), color_jitter=0.3))


def test_holdout_moves_whole_sequences_from_training_to_validation(sequences_root):
    cfg = _cfg(data_root=str(sequences_root), train_split="train+val", val_split=None, holdout="BBB", size=(32, 32))
    probe, train_set, val_set = training_datasets(cfg, {})
    assert sorted({frame_sequence(f[0]) for f in train_set.files}) == ["AAA", "CCC"]
    assert sorted({frame_sequence(f[0]) for f in probe.files}) == ["AAA", "CCC"]
    assert sorted(Path(f[0]).name for f in val_set.files) == ["BBB_0.png", "BBB_1.png", "BBB_2.png"]


def test_holdout_takes_the_sequence_from_the_val_split_too(sequences_root):
    cfg = _cfg(data_root=str(sequences_root), train_split="train", val_split="val", holdout="AAA", size=(32, 32))
    _, train_set, val_set = training_datasets(cfg, {})
    assert len(val_set) == 4 and all(frame_sequence(f[0]) == "AAA" for f in val_set.files)
    assert len(train_set) == 3


def test_unknown_holdout_sequence_is_a_clear_error(sequences_root):
    cfg = _cfg(data_root=str(sequences_root), holdout="ZZZ", size=(32, 32))
    with pytest.raises(ValueError, match="ZZZ not in the dataset"):
        training_datasets(cfg, {})


def _tiny_run(root: Path, run_dir: Path, **kw) -> Path:
    settings = {"model": "segnet_basic", "data_root": str(root), "size": (32, 48), "epochs": 1, "batch_size": 2,
                "workers": 0, "run_dir": str(run_dir), "val_split": None, "lr": 0.01}
    cfg = TrainConfig(**(settings | kw))
    return train(cfg, progress_bar=False)


def test_init_weights_start_from_the_checkpoint_with_a_fresh_schedule(sequences_root, tmp_path):
    first = _tiny_run(sequences_root, tmp_path / "first")
    start = read_checkpoint(first / "last.pt")
    # One step at a negligible rate: the learned weights are still the first run's (BatchNorm's
    # running statistics move with any step, so they are left out).
    second = _tiny_run(sequences_root, tmp_path / "second", init_weights=str(first / "last.pt"), max_steps=1,
                       lr=1e-30)
    weights = read_checkpoint(second / "last.pt")
    learned = [name for name in start["state_dict"] if not ("running" in name or "num_batches" in name)]
    assert learned
    for name in learned:
        assert torch.allclose(start["state_dict"][name].float(), weights["state_dict"][name].float(), atol=1e-6), name
    assert weights["progress"]["global_step"] == 1  # a fresh schedule, not the first run's position
    fresh = _tiny_run(sequences_root, tmp_path / "fresh", max_steps=1, lr=1e-30)
    assert not torch.allclose(read_checkpoint(fresh / "last.pt")["state_dict"][learned[0]].float(),
                              start["state_dict"][learned[0]].float())


def test_init_weights_of_another_model_are_refused(sequences_root, tmp_path):
    first = _tiny_run(sequences_root, tmp_path / "first")
    with pytest.raises(ValueError, match="holds model 'segnet_basic'"):
        cfg = TrainConfig(model="segnet", data_root=str(sequences_root), size=(32, 48), epochs=1, batch_size=2,
                          workers=0, run_dir=str(tmp_path / "x"), val_split=None, init_weights=str(first / "last.pt"))
        train(cfg, progress_bar=False)


def test_per_sequence_figures_equal_scoring_each_sequence_alone(sequences_root):
    from segnet.data import build_dataset, eval_transform, select_sequences
    from segnet.engine import evaluate_model
    from segnet.models import create_model

    torch.manual_seed(0)
    model = create_model("segnet_basic", 11)
    dataset = build_dataset("camvid", sequences_root, "train+val", eval_transform(None))
    whole = evaluate_model(model, dataset, (32, 48), torch.device("cpu"), batch_size=3, progress=False)
    assert set(whole["per_sequence"]) == {"AAA", "BBB", "CCC"}
    for name, figures in whole["per_sequence"].items():
        alone = evaluate_model(model, select_sequences(dataset, keep=[name]), (32, 48), torch.device("cpu"),
                               progress=False)
        assert figures["num_images"] == alone["num_images"]
        for key in ("global_accuracy", "class_accuracy", "miou", "bf"):
            assert figures[key] == pytest.approx(alone[key]), (name, key)
