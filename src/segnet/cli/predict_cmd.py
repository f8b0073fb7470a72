"""`segnet predict`: label images, folders, globs or a video with a checkpoint (see segnet.predict)."""

from __future__ import annotations

import argparse


from ..devices import DEVICE_HELP, resolve_device
from ..tta import DEFAULT_TTA
from ..video import VIDEO_EXTENSIONS
from .common import (add_backend_argument, add_precision_argument, add_refine_argument, add_tta_argument,
                     next_free_dir, parse_size, what_runs, writable_dir)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "predict", help="segment images, a folder, a glob or a video",
        description="Segment each SOURCE (an image, a folder, a glob such as 'photos/*.jpg', quoted or expanded "
        f"by the shell, or one video: {', '.join(VIDEO_EXTENSIONS)}). Per image it writes DIR/labels/<stem>.png (class indices), "
        "DIR/color/<stem>.png (class palette), DIR/overlay/<stem>.png (colours blended over the image) "
        "and DIR/timings.csv; a video gives DIR/<stem>_overlay.mp4 and DIR/video.json. Files that are "
        "not readable images are skipped with a warning.",
        epilog="Uncertainty maps (--samples, Bayesian models) are 8-bit, scaled so 255 is the image's most "
        "uncertain pixel; timings.csv holds each image's maximum to undo the scaling.",
    )
    p.add_argument("source", metavar="SOURCE", nargs="+",
                   help="image files, folders or glob patterns, in the order given; or one video file")
    p.add_argument("--output", metavar="DIR", help="output folder (default: a new runs/predict-N)")
    p.add_argument("--weights", metavar="PATH", help="checkpoint from segnet train, a known name such as camvid, or a file from segnet export "
                   "(.onnx, .xml, .pt2) "
                   "(default: the shipped CamVid model; `segnet models` lists the names)")
    p.add_argument("--size", metavar="HxW", help="size the model runs at (default: the checkpoint's; 'native' = each image's own)")
    p.add_argument("--batch-size", type=int, default=1, metavar="N", help="images (or frames) per model call (default 1)")
    p.add_argument("--device", default="cpu", help=f"{DEVICE_HELP} (default cpu)")
    p.add_argument("--amp", default="none", choices=["none", "bf16"],
                   help="bf16 autocast of an fp32 model; prefer --precision bf16 (default none)")
    add_precision_argument(p, "auto")
    add_tta_argument(p, DEFAULT_TTA)
    add_refine_argument(p, "auto")
    add_backend_argument(p)
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the class colours, 0..1 (default 0.5)")
    p.add_argument("--samples", type=int, default=0, metavar="N",
                   help="Bayesian models: N Monte Carlo dropout passes; adds DIR/uncertainty/<stem>.png")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="video: segment every Nth frame, the frames between reuse its labels (default 1)")
    p.add_argument("--save-frames", action="store_true", help="video: also write each segmented frame's label PNG")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from ..inference import Segmenter
    from ..optimize import resolve_precision
    from ..predict import predict_images, predict_video
    from ..sources import collect_all

    sources = collect_all(args.source)  # before loading the model: a typo fails fast
    device = resolve_device(args.device)
    native = bool(args.size) and args.size.lower() == "native"
    precision = args.precision
    if args.samples and precision in ("int8", "auto"):  # Monte Carlo dropout needs the float model
        if precision == "int8":
            raise ValueError("--samples (Monte Carlo dropout) cannot run in int8; use --precision fp32 or bf16")
        precision = resolve_precision("auto", device, calibrated=False)
    segmenter = Segmenter.load(args.weights, device, None if native else parse_size(args.size), args.amp,
                               precision, tta=args.tta, backend=args.backend, refine=args.refine)
    if native:
        segmenter.size = None
    out_dir = writable_dir(args.output if args.output else next_free_dir("runs", "predict"), "--output")
    progress = not args.no_progress
    print(what_runs(segmenter.spec.name, segmenter.size, segmenter.precision, segmenter.tta,
                    unit="frame" if sources.video is not None else "image", refine=segmenter.refine), flush=True)

    if sources.video is not None:
        if args.samples:
            raise ValueError("--samples applies to images only, not to video")
        summary = predict_video(segmenter, sources.video, out_dir, every=args.every, batch_size=args.batch_size,
                                alpha=args.alpha, save_frames=args.save_frames, progress=progress)
        print(summary.line())
        print(f"overlay video written to {summary.output}")
        return 0

    result = predict_images(segmenter, sources.images, out_dir, batch_size=args.batch_size, alpha=args.alpha,
                            samples=args.samples, progress=progress)
    if result.images == 0:
        named = args.source[0] if len(args.source) == 1 else f"{args.source[0]} and {len(args.source) - 1} more"
        raise ValueError(f"{named}: none of the {len(sources.images)} file(s) is a readable image "
                         "(see the warnings above)")
    print(result.line())
    print(f"outputs written to {out_dir}")
    return 0
