"""PNG plots of a run's metrics.csv (training loss and validation mIoU per epoch)."""

from __future__ import annotations

import csv
from pathlib import Path


def _column(rows: list[dict[str, str]], name: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        if row.get(name):
            xs.append(float(row["epoch"]))
            ys.append(float(row[name]))
    return xs, ys


def plot_metrics(csv_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write loss.png and val_miou.png; returns the files written."""
    # A bare Figure draws to files with no display and no pyplot state; imported here, so that the
    # commands that never plot (predict, evaluate, export) start 0.5 s sooner.
    from matplotlib.figure import Figure

    with Path(csv_path).open() as handle:
        rows = list(csv.DictReader(handle))
    written = []
    for column, title, file_name in (("train_loss", "training loss", "loss.png"),
                                     ("val_miou", "validation mIoU (%)", "val_miou.png")):
        xs, ys = _column(rows, column)
        if not xs:
            continue
        figure = Figure(figsize=(6, 4))
        axes = figure.subplots()
        axes.plot(xs, ys, marker="o")
        axes.set_xlabel("epoch")
        axes.set_ylabel(title)
        axes.grid(True, alpha=0.3)
        figure.tight_layout()
        path = Path(out_dir) / file_name
        figure.savefig(path, dpi=100)
        written.append(path)
    return written
