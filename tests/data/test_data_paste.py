"""Class copy-paste: which pixels move, which draws it makes, and that both training feeds agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from segnet.data import CAMVID, CamVid
from segnet.data.device_augment import DeviceAugmenter
from segnet.data.paste import ClassPaste, paste_arrays, paste_by_name

IGNORE = 11


def test_only_the_donors_pixels_of_the_chosen_classes_move():
    image = np.zeros((2, 3, 3), np.uint8)
    label = np.array([[0, 1, 2], [3, 4, 5]])
    donor_image = np.full((2, 3, 3), 200, np.uint8)
    donor_label = np.array([[9, 0, 10], [IGNORE, 9, 3]])
    pasted_image, pasted_label = paste_arrays(image, label, donor_image, donor_label, (9, 10), mirror=False)
    assert pasted_label.tolist() == [[9, 1, 10], [3, 9, 5]]
    assert pasted_image[..., 0].tolist() == [[200, 0, 200], [0, 200, 0]]
    assert label.tolist() == [[0, 1, 2], [3, 4, 5]] and image.max() == 0  # inputs untouched
    # Mirrored: the donor's columns reversed before the mask is taken.
    _, mirrored = paste_arrays(image, label, donor_image, donor_label, (9, 10), mirror=True)
    assert mirrored.tolist() == [[10, 1, 9], [3, 9, 5]]


def test_draws_never_pick_the_item_itself_and_follow_the_probability():
    paste = ClassPaste((9,), p=0.5)
    items = [(epoch, index) for epoch in range(40) for index in range(5)]
    taken = [(paste.draw(3, epoch, index, 5), index) for epoch, index in items]
    taken = [(drawn, index) for drawn, index in taken if drawn is not None]
    assert all(donor != index and 0 <= donor < 5 for (donor, _), index in taken)
    assert {donor for (donor, _), _ in taken} == set(range(5))
    assert 0.35 < len(taken) / len(items) < 0.65
    assert {mirror for (_, mirror), _ in taken} == {True, False}
    assert paste.draw(3, 7, 2, 5) == paste.draw(3, 7, 2, 5)  # seeded by (seed, epoch, index)
    assert ClassPaste((9,), p=1.0).draw(0, 0, 0, 1) is None  # no other frame to take from
    assert all(ClassPaste((9,), p=1.0).draw(0, 0, i, 4) is not None for i in range(4))


def test_class_names_resolve_case_insensitively_and_unknown_ones_are_named():
    assert paste_by_name(CAMVID, ["bicyclist", "Pedestrian "], 0.5).classes == (9, 10)
    with pytest.raises(ValueError, match="Rider"):
        paste_by_name(CAMVID, ["Pedestrian", "Rider"], 0.5)
    for p in (0.0, 1.5):
        with pytest.raises(ValueError, match="probability"):
            ClassPaste((9,), p)


def test_pasting_changes_only_the_pasted_pixels_and_leaves_the_other_draws_alone(tmp_path, block_camvid,
                                                                                   augment_pipeline):
    root = block_camvid(tmp_path, [(48, 64)] * 4)
    plain = CamVid(root, "train", None, seed=2)
    pasted = CamVid(root, "train", None, seed=2)
    pasted.paste = ClassPaste((2, 5), p=1.0)
    for index in range(4):
        donor, mirror = pasted.paste.draw(2, 0, index, 4)
        donor_label = np.asarray(Image.open(root / "trainannot" / f"seq_{donor:03d}.png"))
        if mirror:
            donor_label = donor_label[:, ::-1]
        moved = np.isin(donor_label, (2, 5))
        _, label = pasted[(0, index)]
        _, original = plain[(0, index)]
        assert torch.equal(label[torch.from_numpy(moved)], torch.from_numpy(donor_label[moved]).long())
        assert torch.equal(label[torch.from_numpy(~moved)], original[torch.from_numpy(~moved)])
    # With the transforms on, an unpasted item gets exactly the augmentation it had without pasting.
    plain.transform, pasted.transform = augment_pipeline(), augment_pipeline()
    pasted.paste = ClassPaste((2, 5), p=0.5)
    skipped = [i for i in range(4) if pasted.paste.draw(2, 1, i, 4) is None]
    assert skipped
    for index in skipped:
        assert all(torch.equal(a, b) for a, b in zip(pasted[(1, index)], plain[(1, index)]))


def test_the_device_augmenter_pastes_the_same_donors_as_the_loader(tmp_path, block_camvid, augment_pipeline):
    dataset = CamVid(block_camvid(tmp_path, [(48, 64)] * 5), "train", augment_pipeline(), seed=4)
    dataset.paste = ClassPaste((2, 5, 9), p=0.7)
    augmenter = DeviceAugmenter(dataset, "cpu", threads=2)
    pasted = 0
    for epoch in range(4):
        for index in range(len(dataset)):
            cpu_image, cpu_label = dataset[(epoch, index)]
            image, label = augmenter.augment(index, epoch)
            assert torch.equal(label, cpu_label), (epoch, index)
            assert (image - cpu_image).abs().mean() < 0.06, (epoch, index)
            pasted += dataset.paste.draw(4, epoch, index, len(dataset)) is not None
    assert pasted > 5
