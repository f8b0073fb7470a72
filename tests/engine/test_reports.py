"""The evaluation's files beside metrics.json: the CSVs hold the figures, the heat map is drawn
without touching the caller's matplotlib (a notebook keeps its backend)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
from PIL import Image

RESULT = {
    "per_class": {"Road": {"accuracy": 0.9, "iou": 0.8, "bf": 0.7, "pixels": 100},
                  "Sky": {"accuracy": 0.5, "iou": 0.25, "bf": None, "pixels": 20}},
    "confusion_matrix": [[90, 10], [10, 10]],
}

# Run in a fresh interpreter: whether pyplot is imported and which backend is set are process-wide.
SCRIPT = """
import json, sys
import matplotlib
matplotlib.use("svg")
from segnet.engine.reports import write_evaluation_files
paths = write_evaluation_files(json.loads(sys.argv[1]), sys.argv[2])
print(json.dumps({"backend": matplotlib.get_backend(), "pyplot": "matplotlib.pyplot" in sys.modules,
                  "paths": {key: str(value) for key, value in paths.items()}}))
"""


def test_reports_hold_the_figures_and_leave_matplotlib_as_it_was(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(RESULT), str(tmp_path)],
                          capture_output=True, text=True, check=True)
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["backend"] == "svg" and not state["pyplot"]
    paths = state["paths"]
    with open(paths["per_class"], newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["class", "accuracy", "iou", "bf", "pixels"], ["Road", "0.9000", "0.8000", "0.7000", "100"],
                    ["Sky", "0.5000", "0.2500", "", "20"]]
    with open(paths["confusion_csv"], newline="") as handle:
        assert list(csv.reader(handle))[1:] == [["Road", "90", "10"], ["Sky", "10", "10"]]
    with Image.open(paths["confusion_png"]) as image:
        assert image.format == "PNG" and image.size[0] > 300
        assert np.asarray(image.convert("L")).std() > 0  # something is drawn
