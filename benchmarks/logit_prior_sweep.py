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
The held-out frames, the logits (``--cache FILE.npz`` keeps them for a later run) and the scores
come from `held_out.py`, which `crf_study.py` shares.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from segnet.checkpoint import load_model
from segnet.data import build_dataset, eval_transform, select_sequences
from segnet.data.balancing import median_frequency_weights
from segnet.prior import prior_offsets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from held_out import HeldOutScore, add_held_out_options, held_out_logits, holdout_names  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_held_out_options(parser)
    parser.add_argument("--alphas", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.8,1.0")
    parser.add_argument("--bf-alphas", default="0,0.5,1.0", help="alphas to also score boundary F1 at (slow)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    alphas = [float(a) for a in args.alphas.split(",")]
    bf_alphas = [float(a) for a in args.bf_alphas.split(",") if a.strip()]
    alphas = sorted(set(alphas) | set(bf_alphas))

    loaded = load_model(args.weights)
    classes = loaded.classes
    num_classes = classes.num_classes
    training = select_sequences(build_dataset("camvid", args.data_root, args.train_split, eval_transform(None), 0),
                                drop=holdout_names(args))
    weights = median_frequency_weights(training)  # as the run (and `segnet shift-prior`) computed them
    offsets = {alpha: prior_offsets(weights, alpha).view(num_classes, 1, 1) for alpha in alphas}
    print("median-frequency weights of the run's training frames:",
          ", ".join(f"{name} {w:.2f}" for name, w in zip(classes.names, weights.tolist())))

    logits, _, labels = held_out_logits(args, loaded, dtype=np.float32)
    scores = {alpha: HeldOutScore(classes.names, classes.ignore_index, len(logits), boundary_f1=alpha in bf_alphas)
              for alpha in alphas}
    for index in range(len(logits)):
        frame = torch.from_numpy(logits[index]).float()
        for alpha in alphas:
            scores[alpha].add(index, (frame + offsets[alpha]).argmax(0), labels[index])  # what shift-prior folds in

    rows = []
    print(f"{'alpha':>6} {'G':>6} {'C':>6} {'mIoU':>6} {'BF':>6} | {'mIoU 1st half':>13} {'mIoU 2nd half':>13}")
    for alpha in alphas:
        row = {"alpha": alpha, **scores[alpha].row()}
        rows.append(row)
        print(f"{alpha:>6.2f} {row['global_accuracy']:>6.2f} {row['class_accuracy']:>6.2f} {row['miou']:>6.2f} "
              f"{row['bf']:>6.2f} | {row['miou_first_half']:>13.2f} {row['miou_second_half']:>13.2f}")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump({"weights": args.weights, "holdout": holdout_names(args), "tta": args.tta, "frames": len(logits),
                       "class_weights": dict(zip(classes.names, weights.tolist())), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
