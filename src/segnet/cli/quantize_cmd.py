"""`segnet quantize`: calibrate a checkpoint for int8 inference and write the calibrated copy."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..weights import resolve_weights
from .common import add_dataset_arguments, dataset_options, parse_size, writable_file


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "quantize", help="calibrate a checkpoint for int8 CPU inference",
        description="Run the float32 model on a few images of a dataset split, record every conv's "
        "activation range and write a copy of the checkpoint that carries them. predict, evaluate and "
        "serve then run it in int8 with --precision int8 (or auto, on an x86 CPU). The weights are "
        "not changed. A check on other images prints how often int8 and float32 agree.",
    )
    p.add_argument("--weights", help="checkpoint (.pt) to calibrate (default: the shipped CamVid model)")
    p.add_argument("--output", help="calibrated checkpoint to write (default runs/quantize/<name>_int8.pt)")
    add_dataset_arguments(p, "dataset kind of the calibration images (default camvid)")
    p.add_argument("--split", default="train", help="split the calibration images come from (default train)")
    p.add_argument("--images", type=int, default=16, help="calibration images, spread over the split (default 16)")
    p.add_argument("--size", help="HxW the model runs at (default: the checkpoint's size)")
    p.add_argument("--check-split", default="val", help="split of the agreement check (default val)")
    p.add_argument("--check-images", type=int, default=10, help="images of the agreement check; 0 skips it (default 10)")
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from ..backends import prepare_for_inference
    from ..calibration import calibration_images
    from ..checkpoint import atomic_save, load_model, read_checkpoint, without_training_state
    from ..optimize import cpu_has_fast_int8
    from ..quantize import calibrate, quantize_model

    if args.images < 1:
        raise ValueError(f"--images {args.images}: calibration needs at least 1 image")
    if args.check_images < 0:
        raise ValueError(f"--check-images {args.check_images}: give a count, or 0 to skip the check")
    weights = resolve_weights(args.weights)
    output = writable_file(args.output if args.output else Path("runs") / "quantize" / f"{weights.stem}_int8.pt",
                           "--output")
    loaded = load_model(weights)
    size = parse_size(args.size) if args.size else loaded.size
    extra = dataset_options(args)

    def images(split: str, count: int):
        return calibration_images(args.dataset, args.data_root, split, count, size, loaded.mean, loaded.std,
                                  loaded.spec.num_classes, str(weights), **extra)

    start = time.perf_counter()
    calibration = list(images(args.split, args.images))
    ranges = calibrate(loaded.model, calibration)
    print(f"calibrated {len(ranges)} activation ranges on {len(calibration)} {args.split} image(s) "
          f"in {time.perf_counter() - start:.1f} s")

    if args.check_images > 0:
        int8 = quantize_model(loaded.model, ranges)
        reference = prepare_for_inference(loaded.model, "fp32")
        agree = total = checked = 0
        with torch.no_grad():
            for image in images(args.check_split, args.check_images):
                expected = reference(image.contiguous(memory_format=torch.channels_last)).argmax(1)
                agree += int((int8(image).argmax(1) == expected).sum())
                total += expected.numel()
                checked += 1
        print(f"int8 vs float32 argmax agreement on {checked} {args.check_split} image(s): "
              f"{100 * agree / total:.2f}%")

    data = without_training_state(read_checkpoint(weights))
    data["int8_ranges"] = {name: [low, high] for name, (low, high) in ranges.items()}
    data["int8_calibration"] = {"dataset": args.dataset, "split": args.split, "images": len(calibration),
                                "size": list(size) if size else None}
    atomic_save(data, output)
    print(f"calibrated checkpoint written to {output}")
    if not cpu_has_fast_int8():
        print("note: this CPU has no VNNI int8 instructions: int8 runs here with 7-bit weights (AVX2's "
              "int16 sums would overflow with 8), still faster than float32")
    return 0
