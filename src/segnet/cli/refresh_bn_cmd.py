"""`segnet refresh-bn`: a checkpoint's BatchNorm statistics measured again on clean training frames."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..tta import TTA_SCALES, parse_scales, scaled_sizes
from ..weights import resolve_weights
from .common import add_dataset_arguments, dataset_options, parse_names, parse_size, writable_file

_DEFAULT_SCALES = ",".join(f"{scale:g}" for scale in TTA_SCALES)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "refresh-bn", help="measure a checkpoint's BatchNorm statistics again on clean training frames",
        description="Replace the running mean and variance of every BatchNorm layer by their average over "
        "the un-augmented frames of a split, at the working size and its scaled copies (the sizes that "
        "multiscale test-time augmentation runs). Training leaves averages over jittered, rescaled "
        "batches taken while the weights moved; inference meets plain frames. The weights do not change. "
        "Run it on a finished run's last.pt, then `segnet quantize` the result.",
    )
    p.add_argument("--weights", required=True, help="checkpoint (.pt) to refresh, e.g. RUN_DIR/last.pt")
    p.add_argument("--output", help="checkpoint to write (default runs/refresh_bn/<name>_bn.pt)")
    add_dataset_arguments(p)
    p.add_argument("--split", default="train", help="the training split(s), e.g. train+val (default train)")
    p.add_argument("--holdout", metavar="SEQ[,SEQ]",
                   help="leave these recordings out, as the run did (e.g. 0006R0 for a held-out twin)")
    p.add_argument("--scales", default=_DEFAULT_SCALES,
                   help=f"scales of the working size to measure at, comma-separated; each side is rounded to a "
                   f"multiple of 16 as multiscale inference does (default {_DEFAULT_SCALES}; 1: the working size only)")
    p.add_argument("--size", help="working HxW (default: the checkpoint's size)")
    p.add_argument("--batch-size", type=int, default=8, help="frames per batch (default 8)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device (default cpu)")
    p.add_argument("--amp", default="none", choices=["none", "bf16"], help="bf16 autocast (default none)")
    p.add_argument("--workers", type=int, default=1, help="data loader processes (default 1)")
    return p


def run(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader

    from ..checkpoint import atomic_save, load_model, read_checkpoint, with_new_weights, without_training_state
    from ..data import build_dataset, eval_transform, select_sequences
    from ..engine.batchnorm_refresh import refresh_batchnorm
    from ..optimize import emulated_bf16_warning

    try:
        scales = parse_scales(args.scales)
    except ValueError:
        raise ValueError(f"--scales {args.scales}: expected numbers in (0, 4] separated by commas, such as "
                         "0.5,1") from None
    if args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size}: must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: CUDA is not available on this machine; use --device cpu")
    weights = resolve_weights(args.weights)
    output = writable_file(args.output if args.output else Path("runs") / "refresh_bn" / f"{weights.stem}_bn.pt",
                           "--output")
    loaded = load_model(weights)
    size = parse_size(args.size) if args.size else loaded.size
    if size is None:
        raise ValueError(f"{weights}: has no working size; give --size HxW")
    sizes = scaled_sizes(size, scales)
    holdout = parse_names(args.holdout)
    extra = dataset_options(args)
    loaders = []
    for height_width in sizes:
        dataset = build_dataset(args.dataset, args.data_root, args.split,
                                eval_transform(height_width, loaded.mean, loaded.std), 0, **extra)
        if holdout:
            dataset = select_sequences(dataset, drop=holdout)
        loaders.append(DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers))
    device = torch.device(args.device)
    slow_bf16 = emulated_bf16_warning(args.amp, device)
    if slow_bf16:
        print(slow_bf16, file=sys.stderr)
    model = loaded.model.to(device, memory_format=torch.channels_last)
    start = time.perf_counter()
    frames = refresh_batchnorm(model, (images for loader in loaders for images, _ in loader), device, args.amp,
                               channels_last=True)
    print(f"BatchNorm statistics measured on {frames} frames ({len(loaders[0].dataset)} of {args.split}"
          f"{' minus ' + ','.join(holdout) if holdout else ''} at {', '.join(f'{h}x{w}' for h, w in sizes)}) "
          f"in {time.perf_counter() - start:.1f} s")
    data = with_new_weights(without_training_state(read_checkpoint(weights)), model)
    data["bn_refresh"] = {"dataset": args.dataset, "split": args.split, "holdout": holdout,
                          "sizes": [list(s) for s in sizes], "frames": frames, "amp": args.amp}
    atomic_save(data, output)
    print(f"checkpoint written to {output}; calibrate it for int8 with `segnet quantize --weights {output}`")
    return 0
