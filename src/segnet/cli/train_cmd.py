"""`segnet train`: fills a TrainConfig from the command line and runs the training loop."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from ..engine.config import TrainConfig
from .common import next_free_dir, parse_range, parse_size


def checkpoint_config(path: Path) -> dict[str, Any]:
    """The training config a last.pt records (the trainer saves it with the training state)."""
    from ..checkpoint import read_checkpoint  # torch: only on this path, not to parse the options

    config = read_checkpoint(path).get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: no config.json beside it and no training config in it, so the run cannot "
                         "be resumed; start a new run with --init-weights")
    return config


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a model (SGD, weighted cross-entropy, validation, checkpoints)",
        description="Train a segmentation model. Writes RUN_DIR/config.json, metrics.csv, best.pt, "
        "last.pt and loss/mIoU plots. Run under torchrun for distributed data-parallel training. "
        "Unset options take --config's values, else TrainConfig's defaults, or with --resume the run's own "
        "config.json.",
    )
    defaults = TrainConfig()
    p.add_argument("--config", metavar="FILE",
                   help="YAML or JSON file with the keys of a run's config.json (e.g. runs/x/config.json); options "
                   "given on the command line override it; its run_dir and resume are not used")
    p.add_argument("--model", help=f"model name (default {defaults.model}; see `segnet models`)")
    p.add_argument("--dataset", choices=["camvid", "sunrgbd", "folder"], help="dataset kind (default camvid)")
    p.add_argument("--data-root", help="dataset folder (default $SEGNET_CAMVID or ../shared/camvid)")
    p.add_argument("--train-split", help="training split, or several joined by '+' such as train+val (default train)")
    p.add_argument("--val-split", help="validation split, or 'none' (default val)")
    p.add_argument("--holdout", metavar="SEQ[,SEQ]",
                   help="held-out sequences (e.g. 0006R0): left out of training and used as the validation set, "
                   "taken from the training and validation splits (the sequence-held-out protocol)")
    p.add_argument("--size", help="working HxW the model runs at, or 'native' (default 360x480)")
    p.add_argument("--crop", help="train on random HxW crops of the frame at the working size (default: whole frames)")
    p.add_argument("--scale-range", help="random rescale range before the crop, MIN,MAX (default 0.75,1.25)")
    p.add_argument("--color-jitter", type=float,
                   help="photometric augmentation strength s: brightness, contrast, saturation +-s, hue +-s/6 "
                   "(default 0, off)")
    p.add_argument("--paste-classes", metavar="NAME[,NAME]",
                   help="class copy-paste: these classes' pixels of another training frame pasted in place, "
                   "mirrored at random (e.g. Pedestrian,Bicyclist; default off)")
    p.add_argument("--paste-prob", type=float, help="share of training frames that get a paste (default 0.5)")
    p.add_argument("--epochs", type=int, help=f"epochs (default {defaults.epochs})")
    p.add_argument("--batch-size", type=int, help=f"images per process and micro-batch (default {defaults.batch_size})")
    p.add_argument("--accum-steps", type=int, help="micro-batches per optimiser step (default 1)")
    p.add_argument("--lr", type=float, help=f"learning rate (default {defaults.lr})")
    p.add_argument("--schedule", choices=["poly", "cosine", "constant"], help="learning-rate schedule (default poly)")
    p.add_argument("--warmup-epochs", type=float, help="linear warm-up from lr/100 over this many epochs (default 0)")
    p.add_argument("--init-weights", metavar="CKPT",
                   help="start from this checkpoint's weights with a fresh optimiser and schedule (continue "
                   "training across runs, e.g. a low-resolution run then a full-resolution one)")
    p.add_argument("--ema-decay", type=float, metavar="D",
                   help="keep an exponential moving average of the weights, updated every step with this decay "
                   "(e.g. 0.999; default 0 = off); validation and best.pt use it, ema.pt holds it")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0.9, the paper's)")
    p.add_argument("--weight-decay", type=float, help="SGD weight decay (default 5e-4, the paper's)")
    p.add_argument("--lovasz-weight", type=float, metavar="W",
                   help="add W x the Lovász-softmax loss (a per-image surrogate of 1 - IoU) to the cross-entropy "
                   "(default 0 = off)")
    p.add_argument("--class-weights", choices=["median", "none"], help="median frequency balancing (default) or none")
    p.add_argument("--encoder-weights", help="torchvision vgg16/vgg16_bn state dict for the encoder")
    p.add_argument("--no-scale-aug", dest="scale_aug", action="store_const", const=False,
                   help="only flips, no random scale and crop")
    p.add_argument("--use-depth", action="store_const", const=True, help="SUN RGB-D: depth as a 4th channel")
    p.add_argument("--classes-file", help="folder dataset: classes.json")
    p.add_argument("--device", choices=["cpu", "cuda"], help="device (default cpu; under torchrun cuda is each "
                   "process's local GPU)")
    p.add_argument("--amp", choices=["none", "bf16"], help="bf16 autocast (default none)")
    p.add_argument("--channels-last", action="store_const", const=True, help="channels-last memory format")
    p.add_argument("--workers", type=int, help="data loader processes (default 2)")
    p.add_argument("--augment-on-device", action="store_const", const=True,
                   help="decode the training frames once into the device's memory and run the augmentations "
                   "there, batch by batch (a GPU's fast path: the loader workers no longer bound the loop; on a CPU the "
                   "model is the bound and it makes no difference)")
    p.add_argument("--seed", type=int, help="seed of initialisation, shuffling and augmentation (default 0)")
    p.add_argument("--val-every", type=int, help="epochs between validations (default 1)")
    p.add_argument("--val-samples", type=int, metavar="N",
                   help="validation images drawn to RUN_DIR/samples/epoch_NNNN.png at each validation: image | "
                   "ground truth | prediction | errors (default 4; 0 = none)")
    p.add_argument("--tensorboard", action="store_const", const=True,
                   help="also log losses, rates, validation figures and samples to RUN_DIR/tensorboard "
                   "(pip install 'segnet[tensorboard]')")
    p.add_argument("--checkpoint-minutes", type=float, help="also save last.pt mid-epoch this often (default 10)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps in all")
    p.add_argument("--run-dir", help="run directory (default runs/<model>-<dataset>-N)")
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.pt exactly where it stopped")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The keys of a YAML/JSON config file, checked against TrainConfig's; run_dir and resume dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"--config {path}: not readable as YAML or JSON ({first})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a mapping of option names to values, got {type(data).__name__}")
    known = {field.name for field in fields(TrainConfig)}
    unknown = sorted(str(key) for key in data if str(key).replace("-", "_") not in known)
    if unknown:
        raise ValueError(f"--config {path}: unknown key(s) {', '.join(unknown)}; the keys are those of a run's "
                         "config.json")
    values = {str(key).replace("-", "_"): value for key, value in data.items()}
    values.pop("run_dir", None)
    values.pop("resume", None)
    for key in ("size", "crop"):
        if isinstance(values.get(key), str):
            values[key] = parse_size(values[key])
    if isinstance(values.get("scale_range"), str):
        values["scale_range"] = parse_range(values["scale_range"])
    return values


def build_config(args: argparse.Namespace) -> TrainConfig:
    base = TrainConfig()
    if getattr(args, "config", None):
        if args.resume:
            raise ValueError("--config starts a run from a file; --resume continues RUN_DIR with its own "
                             "config.json: use one or the other")
        try:
            base = TrainConfig.from_dict({**vars(base), **read_config_file(args.config)})
        except TypeError as error:
            raise ValueError(f"--config {args.config}: {error}") from None
    if args.resume:
        if not args.run_dir:
            raise ValueError("--resume needs --run-dir, the run to continue")
        saved = Path(args.run_dir) / "config.json"
        if not (Path(args.run_dir) / "last.pt").is_file() and not saved.is_file():
            raise ValueError(f"{args.run_dir}: no last.pt to resume from")
        # A run killed before its first checkpoint has a config.json but no last.pt: it starts over.
        # A last.pt without its config.json (only the checkpoint came back from another machine)
        # continues with the config the checkpoint records, not with the defaults.
        if saved.is_file():
            base = TrainConfig.from_dict(json.loads(saved.read_text()))
        else:
            base = TrainConfig.from_dict(checkpoint_config(Path(args.run_dir) / "last.pt"))
    values = {}
    for field in fields(TrainConfig):
        given = getattr(args, field.name, None)
        if given is not None:
            values[field.name] = given
    if "size" in values:
        values["size"] = parse_size(values["size"])
    if "crop" in values:
        values["crop"] = parse_size(values["crop"])
    if "scale_range" in values:
        values["scale_range"] = parse_range(values["scale_range"])
    if isinstance(values.get("val_split"), str) and values["val_split"].lower() == "none":
        values["val_split"] = None
    config = TrainConfig.from_dict({**vars(base), **values})
    config.resume = bool(args.resume)
    if getattr(args, "config", None):
        try:
            config.validate()
        except TypeError as error:
            raise ValueError(f"--config {args.config}: a value has the wrong type ({error})") from None
    if not args.run_dir:
        config.run_dir = str(next_free_dir("runs", f"{config.model}-{config.dataset}"))
    return config


def run(args: argparse.Namespace) -> int:
    from ..engine import train

    config = build_config(args)
    run_dir = train(config, progress_bar=not args.no_progress)
    print(f"run directory: {run_dir}")
    return 0
