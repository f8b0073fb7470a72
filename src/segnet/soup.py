"""A model soup: the weighted average of several checkpoints of one model.

Runs that start from the same weights (seeds of one fine-tuning cycle) stay in one basin of the
loss, so the average of their weights is a model of its own, often better than each and as cheap to
run. On CamVid's held-out drive 0006R0 the soup of two seeds of one 12-epoch cycle gained +0.3-0.4
mIoU and +0.6 BF once shifted; a run averaged with the run it continues gained nothing
(docs/recipe_study.md). Runs from different initialisations do not share a basin: their average is
noise, and nothing here can tell; that is the caller's knowledge.

Every floating tensor (parameters and BatchNorm running statistics) is averaged in float32; integer
buffers (BatchNorm's step counter) are taken from the first checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .checkpoint import INT8_CALIBRATION_KEYS, CheckpointError, without_training_state

# Entries that must agree for the average to be one model with one meaning.
_SAME_MEANING = ("model", "classes", "normalization", "size")
# Entries measured on particular weights: a soup has new weights, so they no longer hold.
_MEASURED_ON_WEIGHTS = (*INT8_CALIBRATION_KEYS, "bn_refresh")


def soup_weights(count: int, weights: Sequence[float] | None = None) -> list[float]:
    """The share of each of ``count`` checkpoints, summing to 1 (uniform when ``weights`` is None)."""
    if count < 2:
        raise ValueError(f"a soup needs at least 2 checkpoints, got {count}")
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise ValueError(f"{len(weights)} weights for {count} checkpoints: give one per checkpoint")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights {list(weights)}: give non-negative numbers, not all 0")
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def average_state_dicts(states: Sequence[dict[str, torch.Tensor]], shares: Sequence[float],
                        names: Sequence[str]) -> dict[str, torch.Tensor]:
    """``sum(share_i * state_i)`` for floating tensors (float32), the first state's integer tensors;
    ValueError naming the checkpoint whose layers or shapes differ from the first's."""
    first = states[0]
    for state, name in zip(states[1:], names[1:]):
        if state.keys() != first.keys():
            extra = sorted(set(state) ^ set(first))[:3]
            raise ValueError(f"{name}: holds different layers from {names[0]} (e.g. {', '.join(extra)})")
        for key, tensor in state.items():
            if tensor.shape != first[key].shape:
                raise ValueError(f"{name}: {key} is {tuple(tensor.shape)}, {tuple(first[key].shape)} in {names[0]}")
    averaged = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            averaged[key] = sum(share * state[key].float() for share, state in zip(shares, states)).contiguous()
        else:
            averaged[key] = tensor.clone()
    return averaged


def make_soup(checkpoints: Sequence[dict[str, Any]], paths: Sequence[str | Path],
              weights: Sequence[float] | None = None) -> dict[str, Any]:
    """A checkpoint whose weights are the (weighted) average of ``checkpoints``'; the first one's
    other entries (config, classes...) are kept, training state and what was measured on the old
    weights (int8 calibration, BatchNorm refresh record) dropped, and ``soup_of`` records the parts."""
    names = [str(p) for p in paths]
    shares = soup_weights(len(checkpoints), weights)
    first = checkpoints[0]
    for data, name in zip(checkpoints, names):
        if "prior_shift" in data:
            raise ValueError(f"{name}: its class prior is shifted; soup the checkpoints as trained "
                             "(`segnet shift-prior --undo`), then shift the soup")
        if "state_dict" not in data:
            raise CheckpointError(f"{name}: checkpoint has no 'state_dict' entry; it was not written by segnet")
    for data, name in zip(checkpoints[1:], names[1:]):
        for key in _SAME_MEANING:
            if data.get(key) != first.get(key):
                raise ValueError(f"{name}: its {key} entry differs from {names[0]}'s "
                                 f"({_short(data.get(key))} against {_short(first.get(key))})")
    soup = without_training_state(dict(first))
    for key in _MEASURED_ON_WEIGHTS:
        soup.pop(key, None)
    soup["state_dict"] = average_state_dicts([c["state_dict"] for c in checkpoints], shares, names)
    soup["soup_of"] = [{"path": name, "share": share, "progress": data.get("progress")}
                       for name, share, data in zip(names, shares, checkpoints)]
    return soup


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
