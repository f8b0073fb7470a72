"""Does an edge-aware refinement of the logits pay on a held-out drive? A dense CRF, studied.

SegNet's decoder draws boundaries from coarse upsampled features, so a label map often bleeds
across an image edge. A fully connected CRF (Kraehenbuehl and Koltun 2011: unary = the model's
logits, Potts pairwise terms with an appearance kernel over position and colour and a smoothness
kernel over position) pulls labels back to the edges (`segnet.refine`, `--refine crf`). This
script runs the model once per held-out frame (the TTA given) and scores G, C, mIoU and BF for each CRF setting of a grid from the same logits, on
each half of the drive too, so that a setting chosen on one half can be checked on the other.

    segnet shift-prior --weights research/twin/M_bn.pt --alpha 0.3 --data-root ../shared/camvid --output M_a03.pt
    python benchmarks/crf_study.py --weights M_a03.pt --data-root ../shared/camvid \
        --holdout 0006R0 --tta none --settings "3,40,13,1,5;6,40,13,1,5"

A setting is ``appearance weight, spatial sigma (px), colour sigma (0-255), smoothness weight,
iterations``; the smoothness kernel's sigma is 3 px. ``--alphas 0.1,0.2,0.3`` scores every setting at
each of those class prior shifts too (`segnet shift-prior`), for weights that carry a shift: the
shift is a constant per class and the TTA averages logits, so the logits of another alpha are the
cached ones plus the difference of the offsets, exactly. ``--cache FILE.npz`` keeps the logits, images
and labels of a first run and reuses them (the multiscale logits of 101 frames take 17 minutes on 2
cores; 450 MB in float16).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from segnet.checkpoint import load_model
from segnet.prior import prior_offsets
from segnet.refine import CrfSetting, dense_crf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from held_out import HeldOutScore, add_held_out_options, held_out_logits, row_line  # noqa: E402


def alpha_offsets(weights: str, alphas: str | None) -> list[tuple[float | None, torch.Tensor | None]]:
    """(alpha, logit offsets to add to the cached logits) for each of ``alphas``; [(None, None)] without."""
    if not alphas:
        return [(None, None)]
    shift = torch.load(weights, map_location="cpu", weights_only=False).get("prior_shift")
    if shift is None:
        raise SystemExit(f"{weights}: --alphas needs weights from `segnet shift-prior` (they record the class weights)")
    applied = torch.tensor(shift["offsets"], dtype=torch.float32)
    return [(float(a), prior_offsets(shift["class_weights"], float(a)) - applied) for a in alphas.split(",") if a]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_held_out_options(parser)
    default = CrfSetting()
    parser.add_argument("--settings", default=f"{default.appearance:g},{default.spatial_sigma:g},"
                        f"{default.colour_sigma:g},{default.smoothness:g},{default.iterations}",
                        help="';'-separated appearance,spatial_sigma,colour_sigma,smoothness,iterations "
                        "(default: segnet.refine's)")
    parser.add_argument("--alphas", help="','-separated class prior shifts to score each setting at (weights "
                        "from `segnet shift-prior`; default: the weights' own)")
    parser.add_argument("--no-bf", action="store_true", help="skip boundary F1 (the slowest score)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    settings = [None] + [tuple(float(v) for v in text.split(",")) for text in args.settings.split(";") if text]

    loaded = load_model(args.weights)
    shifts = alpha_offsets(args.weights, args.alphas)
    logits, images, labels = held_out_logits(args, loaded)
    count = len(logits)
    rows = []
    print(f"{'setting':>28} {'G':>6} {'C':>6} {'mIoU':>6} {'BF':>6} | {'1st half':>8} {'2nd half':>8} {'s/frame':>7}  lowest classes")
    for (alpha, offsets), setting in [(shift, setting) for shift in shifts for setting in settings]:
        score = HeldOutScore(loaded.classes.names, loaded.classes.ignore_index, count, boundary_f1=not args.no_bf)
        start = time.perf_counter()
        for index in range(count):
            scores = torch.from_numpy(logits[index]).float()
            if offsets is not None:
                scores += offsets.view(-1, 1, 1)
            if setting is not None:
                appearance, spatial, colour, smoothness, iterations = setting
                crf = CrfSetting(appearance, spatial, colour, smoothness, iterations=int(iterations))
                scores = dense_crf(scores, torch.from_numpy(images[index]).float(), crf)
            score.add(index, scores.argmax(0), labels[index])
        seconds = (time.perf_counter() - start) / count
        name = "none" if setting is None else ",".join(f"{v:g}" for v in setting)
        if alpha is not None:
            name = f"alpha {alpha:g}: {name}"
        row = {"setting": name, "alpha": alpha, **score.row(), "seconds_per_frame": seconds}
        rows.append(row)
        print(row_line(name, row, 28, f" {seconds:>7.2f}"), flush=True)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump({"weights": args.weights, "holdout": args.holdout, "tta": args.tta,
                       "frames": count, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
