"""The run's plots are real PNGs of the metrics, drawn without a display."""

from __future__ import annotations

import numpy as np
from PIL import Image

from segnet.engine.plots import plot_metrics


def test_loss_and_miou_plots_are_pngs_of_the_figure_size(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,train_loss,val_miou\n1,2.0,10.0\n2,1.5,\n3,1.2,20.0\n")
    written = plot_metrics(csv, tmp_path)
    assert [path.name for path in written] == ["loss.png", "val_miou.png"]
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (600, 400)  # 6x4 inches at 100 dpi
            assert np.asarray(image.convert("L")).std() > 0  # something is drawn


def test_a_run_without_validation_plots_only_the_loss(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,train_loss,val_miou\n1,2.0,\n")
    assert [path.name for path in plot_metrics(csv, tmp_path)] == ["loss.png"]
