"""Files people look at beside metrics.json: per-class CSV, the confusion matrix as CSV and heat map."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import atomic_write_text


def _csv_text(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def write_evaluation_files(result: dict[str, Any], output: str | Path) -> dict[str, Path]:
    """per_class.csv (accuracy, IoU, BF, pixels), confusion.csv (counts; rows are the ground truth)
    and confusion.png (each row divided by its total: where each class's pixels went)."""
    output = Path(output)
    names = list(result["per_class"])
    rows = [["class", "accuracy", "iou", "bf", "pixels"]]
    for name, values in result["per_class"].items():
        bf = values.get("bf")
        rows.append([name, f"{values['accuracy']:.4f}", f"{values['iou']:.4f}",
                     "" if bf is None else f"{bf:.4f}", values["pixels"]])
    paths = {"per_class": output / "per_class.csv", "confusion_csv": output / "confusion.csv",
             "confusion_png": output / "confusion.png"}
    atomic_write_text(paths["per_class"], _csv_text(rows))
    matrix = np.asarray(result["confusion_matrix"], dtype=np.int64)
    atomic_write_text(paths["confusion_csv"], _csv_text([["ground truth \\ prediction", *names]]
                                                        + [[name, *row] for name, row in zip(names, matrix.tolist())]))
    _heat_map(matrix, names, paths["confusion_png"])
    return paths


def _heat_map(matrix: np.ndarray, names: list[str], path: Path) -> None:
    # A bare Figure, as in plots.py: no pyplot state, and the caller's matplotlib backend (a
    # notebook's, say) is left as it was. Imported here, so that start-up does not pay for it.
    from matplotlib.figure import Figure

    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = max(5.0, 0.5 * len(names) + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    if len(names) <= 20:
        for i in range(len(names)):
            for j in range(len(names)):
                if share[i, j] >= 0.005:
                    ax.text(j, i, f"{100 * share[i, j]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the class's pixels")
    ax.set_title("confusion matrix (row-normalised, %)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, format="png")
    tmp.replace(path)
