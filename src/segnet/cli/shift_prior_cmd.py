"""`segnet shift-prior`: take back part of a checkpoint's class weighting, in its classifier's bias."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..weights import resolve_weights
from .common import add_dataset_arguments, dataset_options, parse_names, writable_file


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "shift-prior", help="take back part of the class weighting a checkpoint was trained with (mIoU, G, BF up; "
        "C down)",
        description="Median frequency balancing makes a model over-predict the classes it up-weights: good for "
        "their recall (C), costly for IoU and global accuracy. This subtracts ALPHA x log(w_c) from each class's "
        "logit, w_c being the weights the run trained with (median frequency over its training frames, measured "
        "again here), and folds it into the classifier's bias: no cost at inference, exports carry it. "
        "0 keeps the model, 1 undoes the weighting. Then `segnet quantize` the result.",
    )
    p.add_argument("--weights", required=True, help="checkpoint (.pt) trained with class weights, e.g. RUN_DIR/last.pt")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--alpha", type=_alpha,
                      help="share of the weighting to take back, 0-1 (0.3 for the shipped CamVid model: see "
                      "docs/recipe_study.md)")
    what.add_argument("--undo", action="store_true",
                      help="take a shift out again: the model as trained, e.g. to continue training it with "
                      "--init-weights")
    p.add_argument("--output", help="checkpoint to write (default runs/shift_prior/<name>_prior.pt, or "
                   "<name>_unshifted.pt with --undo)")
    add_dataset_arguments(p, "dataset kind of the training frames (default camvid)")
    p.add_argument("--split", help="the run's training split(s), e.g. train+val (default: the checkpoint's "
                   "train_split, else train)")
    p.add_argument("--holdout", metavar="SEQ[,SEQ]",
                   help="recordings the run left out (default: the checkpoint's --holdout)")
    return p


def _alpha(text: str) -> float:
    """argparse type of --alpha: a share from 0 to 1, checked before anything is read."""
    try:
        alpha = float(text)
    except ValueError:
        alpha = float("nan")
    if not 0 <= alpha <= 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number from 0 (keep the model) to 1 (undo the weighting)")
    return alpha


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import atomic_save, load_model, read_checkpoint, with_new_weights, without_training_state
    from ..data import build_dataset, select_sequences
    from ..data.balancing import median_frequency_weights
    from ..prior import final_classifier, prior_offsets, shift_class_prior

    weights = resolve_weights(args.weights)
    suffix = "unshifted" if args.undo else "prior"
    output = writable_file(args.output if args.output else Path("runs") / "shift_prior" / f"{weights.stem}_{suffix}.pt",
                           "--output")
    data = without_training_state(read_checkpoint(weights))
    if args.undo:
        return _undo(data, weights, output)
    if "prior_shift" in data:
        raise ValueError(f"{weights}: its class prior is already shifted (alpha {data['prior_shift']['alpha']}); "
                         "shift the checkpoint it came from, or take this shift out first with --undo")
    config = data.get("config") or {}
    if config.get("class_weights", "median") == "none":
        raise ValueError(f"{weights}: trained without class weights (--class-weights none): there is no "
                         "weighting to take back")
    loaded = load_model(weights)
    final_classifier(loaded.model)  # a model without one fails before the frames are read
    split = args.split or config.get("train_split") or "train"
    holdout = parse_names(args.holdout if args.holdout is not None else config.get("holdout"))
    # The frames the run balanced its classes over: its training split(s) without the held-out recordings.
    training = build_dataset(args.dataset, args.data_root, split, None, 0, **dataset_options(args))
    if holdout:
        training = select_sequences(training, drop=holdout)
    classes = loaded.classes
    if training.classes.names != classes.names:
        raise ValueError(f"{weights}: trained on classes {list(classes.names)[:3]}..., the dataset has "
                         f"{list(training.classes.names)[:3]}...")
    class_weights = median_frequency_weights(training)
    offsets = prior_offsets(class_weights, args.alpha)
    shift_class_prior(loaded.model, offsets)
    print(f"class weights of {len(training)} {split}{' minus ' + ','.join(holdout) if holdout else ''} frames; "
          f"logit offsets at alpha {args.alpha:g}: "
          + ", ".join(f"{name} {offset:+.2f}" for name, offset in zip(classes.names, offsets.tolist())))
    with_new_weights(data, loaded.model)
    data["prior_shift"] = {"alpha": args.alpha, "dataset": args.dataset, "split": split, "holdout": holdout,
                           "frames": len(training), "class_weights": class_weights.tolist(),
                           "offsets": offsets.tolist()}
    atomic_save(data, output)
    print(f"checkpoint written to {output}; calibrate it for int8 with `segnet quantize --weights {output}`")
    return 0


def _undo(data: dict, weights: Path, output: Path) -> int:
    """--undo: the recorded offsets subtracted from the classifier's bias, the record dropped."""
    import torch

    from ..checkpoint import atomic_save, load_model, with_new_weights
    from ..prior import shift_class_prior

    shift = data.pop("prior_shift", None)
    if shift is None:
        raise ValueError(f"{weights}: its class prior was never shifted; there is nothing to undo")
    loaded = load_model(weights)
    shift_class_prior(loaded.model, -torch.tensor(shift["offsets"], dtype=torch.float32))
    with_new_weights(data, loaded.model)
    atomic_save(data, output)
    print(f"class prior shift (alpha {shift['alpha']:g}) taken out: the model as trained written to {output}")
    return 0
