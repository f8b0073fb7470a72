"""Carry CamVid to a machine with a size limit on what travels, and lay it out again there.

``pack`` writes the RGB frames as JPEG (quality 95, no chroma subsampling: about 70 KB a frame
instead of about 240 KB of PNG) and copies the label PNGs and list files unchanged; ``unpack``
decodes the frames back to PNG under their original names, so ``segnet train --data-root``
reads the result like the original folder. Labels stay lossless; the frames change by JPEG's
rounding only (PSNR above 40 dB).

    python scripts/camvid_transfer.py pack ../shared/camvid .gpu_data/camvid
    python scripts/camvid_transfer.py unpack .gpu_data/camvid /tmp/camvid
"""

from __future__ import annotations

import argparse
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

IMAGE_DIRS = ("train", "val")
COPIED = ("trainannot", "valannot")
LIST_FILES = ("train.txt", "val.txt", "README.md")


def _to_jpeg(pair: tuple[Path, Path]) -> None:
    source, target = pair
    with Image.open(source) as image:
        image.convert("RGB").save(target, "JPEG", quality=95, subsampling=0)


def _to_png(pair: tuple[Path, Path]) -> None:
    source, target = pair
    with Image.open(source) as image:
        image.convert("RGB").save(target, "PNG")


def _convert(source_root: Path, target_root: Path, from_suffix: str, to_suffix: str, job) -> int:
    pairs = []
    for folder in IMAGE_DIRS:
        (target_root / folder).mkdir(parents=True, exist_ok=True)
        pairs += [(path, target_root / folder / (path.stem + to_suffix))
                  for path in sorted((source_root / folder).glob(f"*{from_suffix}"))]
    if not pairs:
        raise SystemExit(f"{source_root}: no {from_suffix} frames under {', '.join(IMAGE_DIRS)}")
    with ProcessPoolExecutor() as pool:
        list(pool.map(job, pairs, chunksize=8))
    for folder in COPIED:
        shutil.copytree(source_root / folder, target_root / folder, dirs_exist_ok=True)
    for name in LIST_FILES:
        if (source_root / name).exists():
            shutil.copy2(source_root / name, target_root / name)
    return len(pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"{args.source}: not a folder", file=sys.stderr)
        return 2
    if args.action == "pack":
        count = _convert(args.source, args.target, ".png", ".jpg", _to_jpeg)
    else:
        count = _convert(args.source, args.target, ".jpg", ".png", _to_png)
    print(f"{args.action}: {count} frames -> {args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
