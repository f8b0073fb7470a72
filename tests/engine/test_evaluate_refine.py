"""`segnet evaluate --refine crf` scores the CRF's labels: the same as refining the logits by hand."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from segnet.checkpoint import load_model
from segnet.cli.main import main
from segnet.data import build_dataset, eval_transform
from segnet.inference import logits_at_size
from segnet.prior import prior_offsets
from segnet.weights import resolve_weights
from segnet.refine import refine_logits, rgb_from_normalised


def test_evaluate_refine_crf_saves_the_refined_labels(tiny_camvid, tmp_path, capsys):
    shipped = resolve_weights(None)  # trained: its labels have edges for the CRF to move
    out, preds = tmp_path / "eval", tmp_path / "preds"
    assert main(["evaluate", "--data-root", str(tiny_camvid), "--split", "val", "--size", "48x64",
                 "--refine", "crf", "--no-progress", "--no-bf", "--sample-images", "0", "--output", str(out),
                 "--save-predictions", str(preds), "--no-optimize"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; --refine crf")
    metrics = json.loads((out / "metrics.json").read_text())
    record = torch.load(shipped, map_location="cpu", weights_only=False)["prior_shift"]
    kept = 0.0  # v9 is shifted at 0.2 and the CRF keeps none of it: it starts from the logits as trained
    assert record["alpha"] > 0 and metrics["refine"] == "crf"
    assert metrics["prior_shift_alpha"] == record["alpha"] and metrics["crf_prior_alpha"] == kept
    loaded = load_model(shipped)
    # the CRF's logits without the shift, from the class weights the model records
    adjustment = (prior_offsets(record["class_weights"], kept) - torch.tensor(record["offsets"])).view(1, -1, 1, 1)
    assert adjustment.abs().max() > 0.1  # the shift is taken out, not left in
    dataset = build_dataset("camvid", str(tiny_camvid), "val", eval_transform(None), 0)
    changed = 0
    with torch.no_grad():
        for index in range(len(dataset)):
            image, _ = dataset[index]
            logits = logits_at_size(loaded.model.eval(), image[None], (48, 64))
            want = refine_logits(logits + adjustment, rgb_from_normalised(image[None], loaded.mean, loaded.std)).argmax(1)[0]
            saved = np.array(Image.open(preds / f"{dataset.files[index][0].stem}.png"))
            np.testing.assert_array_equal(saved, want.numpy())
            changed += int((want != logits.argmax(1)[0]).sum())
    assert changed > 0  # the refinement did something to score
