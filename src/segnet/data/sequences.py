"""Which recording a frame comes from, and datasets cut by recording.

Neighbouring video frames are near-duplicates, so a validation frame whose neighbours are in
training measures memory, not generalisation. CamVid names frames ``<sequence>_<frame>.png``
(``0001TP_006690.png``, ``Seq05VD_f00000.png``); a held-out protocol keeps whole sequences out.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path

from segnet.data.base import SegmentationDataset


def frame_sequence(path: str | Path) -> str:
    """The recording of a frame: its file name up to the first underscore (the whole stem without one)."""
    return Path(path).stem.split("_", 1)[0]


def select_sequences(
    dataset: SegmentationDataset, keep: Iterable[str] | None = None, drop: Iterable[str] | None = None
) -> SegmentationDataset:
    """A copy of ``dataset`` with only the frames of ``keep`` sequences (all if None), minus ``drop``.

    Raises ValueError naming the sequences when nothing is left or a named sequence is absent.
    """
    present = {frame_sequence(image) for image, *_ in dataset.files}
    keep_set = None if keep is None else set(keep)
    drop_set = set(drop or ())
    missing = ((keep_set or set()) | drop_set) - present
    if missing:
        raise ValueError(f"sequence(s) {', '.join(sorted(missing))} not in the dataset, which has "
                         f"{', '.join(sorted(present))}")
    files = [entry for entry in dataset.files
             if (keep_set is None or frame_sequence(entry[0]) in keep_set) and frame_sequence(entry[0]) not in drop_set]
    if not files:
        raise ValueError(f"no frames left after keeping {sorted(keep_set or present)} and dropping {sorted(drop_set)}")
    selected = copy.copy(dataset)
    selected.files = files
    return selected


def first_frames(dataset: SegmentationDataset, count: int) -> SegmentationDataset:
    """A copy of ``dataset`` with its first ``count`` frames, in the split's order (a quick check)."""
    if count < 1:
        raise ValueError(f"{count} frames: give a positive number")
    selected = copy.copy(dataset)
    selected.files = dataset.files[:count]
    return selected
