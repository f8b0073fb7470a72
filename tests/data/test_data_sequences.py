"""Frames grouped by recording: '+'-joined splits and sequence selection for held-out validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segnet.data import build_dataset, frame_sequence, select_sequences


def _camvid(root: Path, splits: dict[str, list[str]]) -> Path:
    for split, stems in splits.items():
        for stem in stems:
            for folder, array in ((split, np.zeros((8, 8, 3), np.uint8)), (f"{split}annot", np.zeros((8, 8), np.uint8))):
                (root / folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(root / folder / f"{stem}.png")
    return root


@pytest.mark.parametrize("name, sequence", [
    ("0001TP_006690.png", "0001TP"), ("/a/b/Seq05VD_f00000.png", "Seq05VD"), ("plain.png", "plain"),
])
def test_frame_sequence_is_the_prefix_before_the_first_underscore(name, sequence):
    assert frame_sequence(name) == sequence


def test_joined_splits_hold_every_frame_in_order(tmp_path):
    root = _camvid(tmp_path, {"train": ["A_1", "B_1"], "val": ["A_2"]})
    joined = build_dataset("camvid", root, "train+val")
    assert [Path(image).name for image, _ in joined.files] == ["A_1.png", "B_1.png", "A_2.png"]
    assert len(joined) == 3 and joined[2][0].shape == (3, 8, 8)


@pytest.mark.parametrize("split", ["train+", "train+train", "+val"])
def test_malformed_joined_split_is_refused(tmp_path, split):
    root = _camvid(tmp_path, {"train": ["A_1"], "val": ["A_2"]})
    with pytest.raises(ValueError, match="joined by"):
        build_dataset("camvid", root, split)


def test_select_sequences_keeps_and_drops(tmp_path):
    root = _camvid(tmp_path, {"train": ["A_1", "B_1", "C_1", "B_2"]})
    dataset = build_dataset("camvid", root, "train")
    kept = select_sequences(dataset, keep=["B"])
    assert [frame_sequence(f[0]) for f in kept.files] == ["B", "B"]
    dropped = select_sequences(dataset, drop=["B"])
    assert [frame_sequence(f[0]) for f in dropped.files] == ["A", "C"]
    assert len(dataset) == 4  # the original is untouched


def test_select_sequences_names_an_absent_sequence(tmp_path):
    root = _camvid(tmp_path, {"train": ["A_1", "B_1"]})
    with pytest.raises(ValueError, match="Z not in the dataset, which has A, B"):
        select_sequences(build_dataset("camvid", root, "train"), keep=["Z"])
