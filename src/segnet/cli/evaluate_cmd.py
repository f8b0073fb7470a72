"""`segnet evaluate`: G, C, mIoU and BF of a checkpoint on a dataset split, as in the paper."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..devices import DEVICE_HELP, resolve_device
from ..spacing import evenly_spaced
from ..tta import resolve_tta
from ..weights import resolve_weights
from .common import (add_backend_argument, add_dataset_arguments, add_precision_argument, add_refine_argument,
                     add_tta_argument, dataset_options, parse_names, parse_size, what_runs, writable_dir)

if TYPE_CHECKING:
    from ..engine.samples import SampleCollector


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate", help="score a checkpoint on a dataset split (G, C, mIoU, BF)",
        description="Evaluate a checkpoint: global accuracy G, class-average accuracy C, mIoU and "
        "boundary F1 (BF, tolerance 0.75% of the image diagonal), at the labels' own resolution. "
        "Prints a per-class table and writes OUTPUT/metrics.json (percent). With --predictions it scores "
        "saved label PNGs (e.g. `segnet predict`'s) instead of running a model.",
    )
    p.add_argument("--weights", help="checkpoint (.pt) written by segnet train (default: the shipped CamVid model)")
    add_dataset_arguments(p)
    p.add_argument("--split", default="val", help="split: train, val or test, or several joined by '+' (default val)")
    p.add_argument("--sequences", metavar="SEQ[,SEQ]",
                   help="only the frames of these recordings (file-name prefixes, e.g. 0006R0); figures are "
                   "reported per sequence as well as overall")
    p.add_argument("--limit", type=int, default=0, metavar="N",
                   help="only the first N frames of the split (after --sequences); 0 = all (default)")
    p.add_argument("--predictions", metavar="DIR",
                   help="score these label PNGs (DIR/<stem>.png, or DIR/labels/<stem>.png as `segnet predict "
                   "--output DIR` writes them) instead of running a model: the figures of exactly what was predicted")
    p.add_argument("--size", help="HxW the model runs at (default: the checkpoint's training size)")
    p.add_argument("--output", default=None, help="folder for metrics.json (default runs/evaluate)")
    p.add_argument("--save-predictions", metavar="DIR", help="write predicted label PNGs here")
    p.add_argument("--sample-images", type=int, default=6, metavar="N",
                   help="write OUTPUT/samples/<stem>.png for N evenly spaced images: image | ground truth | "
                   "prediction | errors in red (default 6; 0 = none)")
    p.add_argument("--device", default="cpu", help=f"{DEVICE_HELP} (default cpu)")
    p.add_argument("--amp", default="none", choices=["none", "bf16"], help="bf16 autocast of the unprepared model, with --no-optimize (default none)")
    add_precision_argument(p, "fp32")
    add_tta_argument(p, "none")
    add_refine_argument(p, "none")
    add_backend_argument(p)
    p.add_argument("--no-optimize", action="store_true", help="run the checkpoint's model as it is (reference)")
    p.add_argument("--batch-size", type=int, default=1, help="images per model call (default 1)")
    p.add_argument("--workers", type=int, default=0, help="data loader processes (default 0)")
    p.add_argument("--no-bf", action="store_true", help="skip the boundary F1 score")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from ..backends import is_exported, load_any, prepare_for_inference
    from ..data import build_dataset, eval_transform, first_frames, select_sequences
    from ..engine import evaluate_model
    from ..engine.samples import SampleCollector
    from ..optimize import resolve_precision
    from ..refine import crf_prior_adjustment, crf_prior_alpha, resolve_refine

    output = writable_dir(args.output if args.output else Path("runs") / "evaluate", "--output")
    if args.save_predictions:
        writable_dir(args.save_predictions, "--save-predictions")
    extra = dataset_options(args)
    dataset = build_dataset(args.dataset, args.data_root, args.split, eval_transform(None), 0, **extra)
    if args.sequences:
        dataset = select_sequences(dataset, keep=parse_names(args.sequences))
    if args.limit < 0:
        raise ValueError(f"--limit {args.limit}: give a positive number of frames (0 = all)")
    if args.limit:
        dataset = first_frames(dataset, args.limit)
    if args.sample_images < 0:
        raise ValueError(f"--sample-images {args.sample_images}: give 0 (none) or a positive number of images")
    if args.predictions:
        return _score_saved_predictions(args, dataset, output)
    device = resolve_device(args.device)
    weights = resolve_weights(args.weights)
    exported = is_exported(weights)
    loaded = load_any(weights, args.backend, device, expect_num_classes=dataset.classes.num_classes)
    if loaded.classes.names != dataset.classes.names:
        raise ValueError(f"{weights}: trained on classes {list(loaded.classes.names)[:3]}..., "
                         f"the dataset has {list(dataset.classes.names)[:3]}...")
    size = parse_size(args.size) if args.size else loaded.size
    tta = resolve_tta(args.tta, loaded.fixed_size, str(weights))
    refine = resolve_refine(args.refine, tta)
    if args.no_optimize and args.precision != "fp32":
        raise ValueError(f"--no-optimize runs the checkpoint as it is, in float32; it cannot run "
                         f"--precision {args.precision}")
    # What runs (auto resolved once, for this machine and checkpoint): the model, the line below and metrics.json.
    precision = loaded.exported_precision if exported else "fp32" if args.no_optimize else resolve_precision(
        args.precision, device, calibrated=loaded.int8_ranges is not None)
    if exported:
        model = loaded.model  # runs as exported, in its runtime
    else:
        model = loaded.model if args.no_optimize else prepare_for_inference(
            loaded.model, precision, device=device, int8_ranges=loaded.int8_ranges)
    print(what_runs(loaded.spec.name, size, precision, tta, refine=refine), flush=True)
    adjustment = crf_prior_adjustment(loaded.prior_offsets) if refine == "crf" else None
    collector = SampleCollector(evenly_spaced(args.sample_images, len(dataset)), loaded.mean, loaded.std)
    result = evaluate_model(model, dataset, size, device, args.amp, channels_last=not (args.no_optimize or exported),
                            batch_size=args.batch_size,
                            workers=args.workers, compute_bf=not args.no_bf,
                            save_predictions=args.save_predictions, progress=not args.no_progress, tta=tta,
                            on_prediction=collector, refine=refine, normalization=(loaded.mean, loaded.std),
                            prior_adjustment=adjustment)
    result.update(model=loaded.spec.name, weights=str(weights), split=args.split, tta=tta, refine=refine,
                  backend=loaded.backend, precision=precision,
                  size=list(size) if size else None, prior_shift_alpha=loaded.prior_shift_alpha,
                  crf_prior_alpha=None if refine == "none" else
                  crf_prior_alpha(loaded.prior_shift_alpha, loaded.prior_offsets))
    _write_outputs(result, dataset, collector, output)
    return 0


def _score_saved_predictions(args: argparse.Namespace, dataset, output: Path) -> int:
    """--predictions: the files are scored as they are; options that run a model do not apply."""
    from ..data import IMAGENET_MEAN, IMAGENET_STD
    from ..engine import evaluate_predictions
    from ..engine.samples import SampleCollector

    if args.weights or args.save_predictions:
        option = "--weights" if args.weights else "--save-predictions"
        raise ValueError(f"--predictions scores saved label PNGs and runs no model; {option} does not apply")
    collector = SampleCollector(evenly_spaced(args.sample_images, len(dataset)), IMAGENET_MEAN, IMAGENET_STD)
    result = evaluate_predictions(dataset, args.predictions, compute_bf=not args.no_bf,
                                  progress=not args.no_progress, on_prediction=collector,
                                  images_for=collector.indices)
    result.update(predictions=str(Path(args.predictions)), split=args.split)
    _write_outputs(result, dataset, collector, output)
    return 0


def _write_outputs(result: dict, dataset, collector: SampleCollector, output: Path) -> None:
    from ..checkpoint import atomic_write_text
    from ..engine import format_report
    from ..engine.reports import write_evaluation_files
    from ..engine.samples import write_panel

    print(format_report(result))
    atomic_write_text(output / "metrics.json", json.dumps(result, indent=2, default=float) + "\n")
    write_evaluation_files(result, output)
    for index, row in collector.rows(dataset.classes):
        write_panel([row], output / "samples" / f"{Path(dataset.files[index][0]).stem}.png")
    samples = f", samples/ ({len(collector.samples)} images)" if collector.samples else ""
    print(f"metrics written to {output / 'metrics.json'} (with per_class.csv, confusion.csv, confusion.png{samples})")
