"""How much of a held-out score the class weighting costs: a post-hoc prior correction, swept.

Median-frequency weighting trains a model whose softmax leans towards the rare classes by about
the weights themselves (for weighted cross-entropy the optimum is p(c|x) w_c, renormalised). So
subtracting ``alpha * log(w_c)`` from the logits moves it back towards the unweighted posterior:
alpha 0 is the model as trained, 1 undoes the weighting in full. This script runs a checkpoint
once per frame of the held-out frames and scores every alpha of a grid from the same logits
(G, C, mIoU per alpha; on each half of the frames too, so that a choice made on one half can be
checked on the other). The weights are those the run trained with: median frequency over its
own training frames (``--train-split`` minus ``--holdout``).

    python benchmarks/logit_prior_sweep.py --weights research/twin/M_bn.pt --data-root ../shared/camvid \
        --holdout 0006R0 --tta none

`segnet shift-prior --alpha A` folds the same offsets into a checkpoint's classifier bias.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from segnet.checkpoint import load_model
from segnet.data import build_dataset, eval_transform, select_sequences
from segnet.data.balancing import median_frequency_weights
from segnet.inference import logits_at_size
from segnet.metrics import BoundaryF1Meter, metrics_from_confusion
from segnet.backends import prepare_for_inference
from segnet.prior import prior_offsets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--train-split", default="train+val")
    parser.add_argument("--holdout", default="0006R0")
    parser.add_argument("--tta", default="none")
    parser.add_argument("--alphas", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.8,1.0")
    parser.add_argument("--bf-alphas", default="0,0.5,1.0", help="alphas to also score boundary F1 at (slow)")
    parser.add_argument("--limit", type=int, default=0, help="first N held-out frames only (0 = all)")
    parser.add_argument("--output", help="JSON file for the figures")
    args = parser.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")]
    bf_alphas = [float(a) for a in args.bf_alphas.split(",") if a.strip()]
    alphas = sorted(set(alphas) | set(bf_alphas))
    holdout = [name for name in args.holdout.split(",") if name]

    loaded = load_model(args.weights)
    classes = loaded.classes
    num_classes, ignore = classes.num_classes, classes.ignore_index
    training = select_sequences(build_dataset("camvid", args.data_root, args.train_split, eval_transform(None), 0),
                                drop=holdout)
    weights = median_frequency_weights(training)  # as the run (and `segnet shift-prior`) computed them
    offsets = {alpha: prior_offsets(weights, alpha).view(1, num_classes, 1, 1) for alpha in alphas}
    print("median-frequency weights of the run's training frames:",
          ", ".join(f"{name} {w:.2f}" for name, w in zip(classes.names, weights.tolist())))

    held = select_sequences(build_dataset("camvid", args.data_root, args.train_split, eval_transform(None), 0),
                            keep=holdout)
    count = len(held) if not args.limit else min(args.limit, len(held))
    half = count // 2
    model = prepare_for_inference(loaded.model, "fp32")
    confusion = np.zeros((2, len(alphas), num_classes, num_classes), dtype=np.int64)  # [half, alpha]
    boundary = {alpha: BoundaryF1Meter(num_classes, ignore) for alpha in bf_alphas}
    start = time.perf_counter()
    with torch.no_grad():
        for index in range(count):
            image, label = held[index]
            logits = logits_at_size(model, image.unsqueeze(0), loaded.size, channels_last=True, tta=args.tta)
            truth = label.numpy().ravel()
            valid = truth != ignore
            for position, alpha in enumerate(alphas):
                labels = (logits + offsets[alpha]).argmax(1)  # what `segnet shift-prior` folds into the bias
                if alpha in boundary:
                    boundary[alpha].update(labels, label.unsqueeze(0))
                predicted = labels.numpy().ravel()
                pairs = truth[valid].astype(np.int64) * num_classes + predicted[valid]
                confusion[int(index >= half), position] += np.bincount(
                    pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    print(f"{count} frames of {','.join(holdout)} in {time.perf_counter() - start:.0f} s ({args.tta})")

    rows = []
    print(f"{'alpha':>6} {'G':>6} {'C':>6} {'mIoU':>6} {'BF':>6} | {'mIoU 1st half':>13} {'mIoU 2nd half':>13}")
    for position, alpha in enumerate(alphas):
        whole = metrics_from_confusion(confusion[:, position].sum(0))
        first, second = (metrics_from_confusion(confusion[part, position]) for part in (0, 1))
        bf = boundary[alpha].compute() if alpha in boundary else float("nan")
        rows.append({"alpha": alpha, "global_accuracy": whole["global_accuracy"], "bf": bf,
                     "class_accuracy": whole["class_accuracy"], "miou": whole["miou"],
                     "miou_first_half": first["miou"], "miou_second_half": second["miou"],
                     "per_class_iou": {name: row["iou"] for name, row in zip(classes.names, whole["per_class"])}})
        print(f"{alpha:>6.2f} {whole['global_accuracy']:>6.2f} {whole['class_accuracy']:>6.2f} {whole['miou']:>6.2f} {bf:>6.2f} | "
              f"{first['miou']:>13.2f} {second['miou']:>13.2f}")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump({"weights": args.weights, "holdout": holdout, "tta": args.tta, "frames": count,
                       "class_weights": dict(zip(classes.names, weights.tolist())), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
