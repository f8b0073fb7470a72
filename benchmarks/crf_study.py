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
import os
import time

import numpy as np
import torch

from segnet.backends import prepare_for_inference
from segnet.checkpoint import load_model
from segnet.data import build_dataset, eval_transform, select_sequences
from segnet.inference import logits_at_size
from segnet.metrics import BoundaryF1Meter, metrics_from_confusion
from segnet.prior import prior_offsets
from segnet.refine import CrfSetting, dense_crf


def held_out_logits(args: argparse.Namespace, loaded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits (float16), RGB images (uint8) and labels of the held-out frames; from --cache if there."""
    if args.cache and os.path.exists(args.cache):
        data = np.load(args.cache)
        return data["logits"], data["images"], data["labels"]
    held = select_sequences(build_dataset("camvid", args.data_root, args.train_split, eval_transform(None), 0),
                            keep=[name for name in args.holdout.split(",") if name])
    model = prepare_for_inference(loaded.model, "fp32")
    mean, std = torch.tensor(loaded.mean).view(3, 1, 1), torch.tensor(loaded.std).view(3, 1, 1)
    count = len(held) if not args.limit else min(args.limit, len(held))
    logits, images, labels = [], [], []
    start = time.perf_counter()
    with torch.no_grad():
        for index in range(count):
            image, label = held[index]
            out = logits_at_size(model, image.unsqueeze(0), loaded.size, channels_last=True, tta=args.tta)
            logits.append(out[0].half().numpy())
            images.append(((image * std + mean).clamp(0, 1) * 255).round().byte().numpy())
            labels.append(label.numpy().astype(np.uint8))
    print(f"{count} held-out frames run in {time.perf_counter() - start:.0f} s ({args.tta})")
    result = np.stack(logits), np.stack(images), np.stack(labels)
    if args.cache:
        np.savez(args.cache, logits=result[0], images=result[1], labels=result[2])
    return result


def worst_class(row: dict) -> str:
    """The two lowest per-class IoUs of a row, named (the target wants none under 10)."""
    lowest = sorted(row["per_class_iou"].items(), key=lambda item: item[1])[:2]
    return ", ".join(f"{name} {iou:.1f}" for name, iou in lowest)


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
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--train-split", default="train+val")
    parser.add_argument("--holdout", default="0006R0")
    parser.add_argument("--tta", default="none")
    parser.add_argument("--settings", default="3,40,13,1,5",
                        help="';'-separated appearance,spatial_sigma,colour_sigma,smoothness,iterations")
    parser.add_argument("--alphas", help="','-separated class prior shifts to score each setting at (weights "
                        "from `segnet shift-prior`; default: the weights' own)")
    parser.add_argument("--no-bf", action="store_true", help="skip boundary F1 (the slowest score)")
    parser.add_argument("--limit", type=int, default=0, help="first N held-out frames only (0 = all)")
    parser.add_argument("--cache", help="npz of logits, images and labels: written by a first run, read by later ones")
    parser.add_argument("--output", help="JSON file for the figures")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    settings = [None] + [tuple(float(v) for v in text.split(",")) for text in args.settings.split(";") if text]

    loaded = load_model(args.weights)
    shifts = alpha_offsets(args.weights, args.alphas)
    num_classes, ignore = loaded.classes.num_classes, loaded.classes.ignore_index
    logits, images, labels = held_out_logits(args, loaded)
    count, half = len(logits), len(logits) // 2
    rows = []
    print(f"{'setting':>28} {'G':>6} {'C':>6} {'mIoU':>6} {'BF':>6} | {'1st half':>8} {'2nd half':>8} {'s/frame':>7}  lowest classes")
    for (alpha, offsets), setting in [(shift, setting) for shift in shifts for setting in settings]:
        confusion = np.zeros((2, num_classes, num_classes), dtype=np.int64)
        boundary = None if args.no_bf else BoundaryF1Meter(num_classes, ignore)
        start = time.perf_counter()
        for index in range(count):
            scores = torch.from_numpy(logits[index]).float()
            if offsets is not None:
                scores += offsets.view(-1, 1, 1)
            if setting is not None:
                appearance, spatial, colour, smoothness, iterations = setting
                crf = CrfSetting(appearance, spatial, colour, smoothness, iterations=int(iterations))
                scores = dense_crf(scores, torch.from_numpy(images[index]).float(), crf)
            predicted = scores.argmax(0)
            truth = labels[index].astype(np.int64)
            if boundary is not None:
                boundary.update(predicted.unsqueeze(0), torch.from_numpy(truth).unsqueeze(0))
            valid = truth != ignore
            pairs = truth[valid] * num_classes + predicted.numpy()[valid]
            confusion[int(index >= half)] += np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)
        seconds = (time.perf_counter() - start) / count
        whole = metrics_from_confusion(confusion.sum(0))
        first, second = (metrics_from_confusion(confusion[part]) for part in (0, 1))
        bf = boundary.compute() if boundary is not None else float("nan")
        name = "none" if setting is None else ",".join(f"{v:g}" for v in setting)
        if alpha is not None:
            name = f"alpha {alpha:g}: {name}"
        rows.append({"setting": name, "alpha": alpha, "global_accuracy": whole["global_accuracy"], "class_accuracy": whole["class_accuracy"],
                     "miou": whole["miou"], "bf": bf, "miou_first_half": first["miou"], "miou_second_half": second["miou"],
                     "seconds_per_frame": seconds,
                     "per_class_iou": {n: row["iou"] for n, row in zip(loaded.classes.names, whole["per_class"])}})
        print(f"{name:>28} {whole['global_accuracy']:>6.2f} {whole['class_accuracy']:>6.2f} {whole['miou']:>6.2f} "
              f"{bf:>6.2f} | {first['miou']:>8.2f} {second['miou']:>8.2f} {seconds:>7.2f}  {worst_class(rows[-1])}", flush=True)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump({"weights": args.weights, "holdout": args.holdout, "tta": args.tta,
                       "frames": count, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
