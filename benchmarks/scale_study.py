"""Does the multiscale TTA average its scales well? Weights over the scales, and probabilities
against logits, studied on a held-out drive.

`segnet predict`'s multiscale TTA runs the image and its mirror at 0.5-1.5 of the working size
and averages the ten logits with equal weights. Large scales see thin objects (poles, signs) with
more pixels; small ones see more context. This script runs each scale once per held-out frame (the
mirror included, as predict does), keeps the five logits apart, and scores combinations of them
from the same passes: equal weights (what predict does: it must reproduce `crf_study.py
--tta multiscale`), weights ``scale ** power`` (one number, so little room to fit the drive), one
scale left out at a time, and averages of softmax probabilities instead of logits; each with the
dense CRF too where ``--crf`` is given (the CRF's unary is the log of the combined probabilities).

    python benchmarks/scale_study.py --weights S3_held_bn15_a02.pt --data-root ../shared/camvid \\
        --alphas 0 --crf --cache S3_held_bn15_scales.npz --output scales.json

``--alphas`` as in `crf_study.py` (the logits of another class prior shift are the cached ones plus
a constant per class, exactly). The cache holds five logits a frame (1.9 GB in float16 for 101
frames at 360x480).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from segnet.checkpoint import load_model
from segnet.inference import logits_at_size
from segnet.refine import CrfSetting, dense_crf
from segnet.tta import TTA_SCALES, parse_scales, scaled_sizes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crf_study import alpha_offsets  # noqa: E402
from held_out import HeldOutScore, add_held_out_options, held_out_logits, row_line  # noqa: E402


def scale_logits(model: torch.nn.Module, batch: torch.Tensor, size: tuple[int, int],
                 scales: tuple[float, ...]) -> torch.Tensor:
    """Scales x N x C x H x W: each scale's logits (image and mirror averaged) at the images' size,
    the passes `segnet predict`'s multiscale TTA averages."""
    return torch.stack([logits_at_size(model, batch, run_size, channels_last=True, tta="flip")
                        for run_size in scaled_sizes(size, scales)])


def per_scale_logits(args: argparse.Namespace, loaded, scales: tuple[float, ...],
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits (frames x scales x classes x H x W, float16), images and labels; from --cache if there."""
    result = held_out_logits(args, loaded, frame_logits=lambda model, batch, size:
                             scale_logits(model, batch, size, scales)[:, 0])
    if result[0].ndim != 5 or result[0].shape[1] != len(scales):
        raise SystemExit(f"{args.cache}: holds logits of shape {result[0].shape[1:]}, not one per scale of "
                         f"{len(scales)} (a crf_study.py cache, or other scales?)")
    return result


def combinations(scales: tuple[float, ...], powers: list[float], classes: list[str],
                 thin: list[str]) -> list[tuple[str, str, np.ndarray]]:
    """(name, 'logits' or 'probs', weights summing to 1 over the scales) for every combination the
    study scores; weights are per scale, or scales x classes where the ``thin`` classes keep equal
    weights while the others take ``scale ** power`` (small objects need the large scales)."""
    scale_array = np.array(scales, dtype=np.float64)
    rows = []
    for power in powers:
        weights = scale_array ** power
        rows.append(("equal" if power == 0 else f"scale^{power:g}", "logits", weights / weights.sum()))
        if power != 0 and thin:
            per_class = np.tile((weights / weights.sum())[:, None], (1, len(classes)))
            for name in thin:
                per_class[:, classes.index(name)] = 1 / len(scales)
            rows.append((f"scale^{power:g}, thin equal", "logits", per_class))
    for left_out in range(len(scales)):
        weights = np.ones(len(scales))
        weights[left_out] = 0
        rows.append((f"without {scales[left_out]:g}", "logits", weights / weights.sum()))
    rows.append(("equal, probabilities", "probs", np.full(len(scales), 1 / len(scales))))
    return rows


def combine(logits: torch.Tensor, how: str, weights: torch.Tensor) -> torch.Tensor:
    """Scales x C x H x W -> C x H x W: weighted logits, or the log of weighted softmax probabilities;
    ``weights`` per scale, or scales x classes."""
    view = weights.view(weights.shape[0], -1, 1, 1)
    if how == "logits":
        return (logits * view).sum(0)
    return torch.log((logits.softmax(1) * view).sum(0).clamp_min(1e-8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_held_out_options(parser)
    parser.add_argument("--scales", default=",".join(f"{s:g}" for s in TTA_SCALES))
    parser.add_argument("--powers", default="-1,0,1,2", help="','-separated powers p of the weights scale**p")
    parser.add_argument("--thin", default="Pole,SignSymbol,Fence,Pedestrian,Bicyclist",
                        help="','-separated classes that keep equal weights in the per-class rows ('' for none)")
    parser.add_argument("--only", help="score only the combinations whose name contains this text")
    parser.add_argument("--alphas", help="as in crf_study.py: class prior shifts to score at")
    parser.add_argument("--crf", action="store_true", help="score every combination with the default dense CRF too")
    parser.add_argument("--no-bf", action="store_true", help="skip boundary F1 (the slowest score)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    try:
        scales = parse_scales(args.scales)
    except ValueError as error:
        raise SystemExit(f"--scales: {error}") from None
    powers = [float(p) for p in args.powers.split(",") if p]

    loaded = load_model(args.weights)
    logits, images, labels = per_scale_logits(args, loaded, scales)
    count = len(logits)
    rows = []
    print(f"{'combination':>34} {'G':>6} {'C':>6} {'mIoU':>6} {'BF':>6} | {'1st half':>8} {'2nd half':>8}  lowest classes")
    for alpha, offsets in alpha_offsets(args.weights, args.alphas):
        for refine in ([False, True] if args.crf else [False]):
            thin = [name for name in args.thin.split(",") if name]
            for name, how, weights in combinations(scales, powers, loaded.classes.names, thin):
                if args.only and args.only not in name:
                    continue
                score = HeldOutScore(loaded.classes.names, loaded.classes.ignore_index, count,
                                     boundary_f1=not args.no_bf)
                weight_tensor = torch.tensor(weights, dtype=torch.float32)
                for index in range(count):
                    per_scale = torch.from_numpy(logits[index]).float()
                    if offsets is not None:
                        per_scale += offsets.view(1, -1, 1, 1)
                    scores = combine(per_scale, how, weight_tensor)
                    if refine:
                        scores = dense_crf(scores, torch.from_numpy(images[index]).float(), CrfSetting())
                    score.add(index, scores.argmax(0), labels[index])
                label = f"{name}{' + CRF' if refine else ''}"
                if alpha is not None:
                    label = f"alpha {alpha:g}: {label}"
                row = {"combination": name, "how": how, "weights": weights.round(4).tolist(), "crf": refine,
                       "alpha": alpha, **score.row()}
                rows.append(row)
                print(row_line(label, row, 34), flush=True)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump({"weights": args.weights, "holdout": args.holdout, "scales": scales,
                       "frames": count, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
