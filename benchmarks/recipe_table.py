"""Markdown table of a recipe study from `segnet evaluate` outputs.

    python benchmarks/recipe_table.py NAME=RUN_DIR/eval/metrics.json [NAME=...] > table.md

Each row: G, C, mIoU, BF of the evaluated split, the run's training time (sum of metrics.csv's
epoch_seconds, from the run folder above the metrics file's folder) and its thin-class IoUs.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

THIN = ("Pole", "SignSymbol", "Pedestrian", "Bicyclist")


def training_minutes(run_dir: Path) -> str:
    metrics = run_dir / "metrics.csv"
    if not metrics.is_file():
        return "-"
    with metrics.open(newline="") as handle:
        return f"{sum(float(r['epoch_seconds']) for r in csv.DictReader(handle)) / 60:.1f}"


def main(entries: list[str]) -> int:
    print("| recipe | G | C | mIoU | BF | " + " | ".join(f"{c} IoU" for c in THIN) + " | wall min |")
    print("| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in THIN) + " | ---: |")
    for entry in entries:
        name, _, path = entry.partition("=")
        result = json.loads(Path(path).read_text())
        thin = " | ".join(f"{result['per_class'][c]['iou']:.1f}" for c in THIN)
        print(f"| {name} | {result['global_accuracy']:.2f} | {result['class_accuracy']:.2f} | {result['miou']:.2f} | "
              f"{result['bf']:.2f} | {thin} | {training_minutes(Path(path).parent.parent)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
