"""What the dense CRF (`--refine crf`) costs beside the model passes it follows, in one run.

For each frame (CamVid val at its own 360x480 size when the data is there, random images otherwise)
this times, on the same machine and threads: the shipped model's one pass, its multiscale TTA (what
`segnet predict` runs by default) and the CRF on those logits (``segnet.refine.refine_logits``),
the CRF split into building the bilateral grid and its mean-field rounds. It prints the median per
frame and the CRF's share of predict's default path. Time it on a quiet machine.

    python benchmarks/crf_cost.py [--frames 10] [--precision int8] [--iterations 5] [--data ../shared/camvid]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import segnet
from segnet.checkpoint import load_model
from segnet.data import build_dataset, default_root, eval_transform
from segnet.refine import CrfSetting, OccupiedGrid, crf_prior_adjustment, refine_logits, rgb_from_normalised


def frames(data: str | None, count: int, mean, std) -> list[torch.Tensor]:
    """Normalised 1x3xHxW CamVid val frames, or random 360x480 images when CamVid is not there."""
    try:
        dataset = build_dataset("camvid", data or default_root("camvid"), "val", eval_transform(None), 0)
        return [dataset[i][0][None] for i in range(min(count, len(dataset)))]
    except (FileNotFoundError, ValueError) as error:
        print(f"CamVid not read ({str(error).splitlines()[0]}): random 360x480 images instead")
        generator = torch.Generator().manual_seed(0)
        mean_t, std_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        return [(torch.rand(1, 3, 360, 480, generator=generator) - mean_t) / std_t for _ in range(count)]


def timed(work) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--precision", default="auto", help="of the model passes (auto: int8 on an x86 CPU)")
    parser.add_argument("--iterations", type=int, default=CrfSetting().iterations, help="mean-field rounds")
    parser.add_argument("--data", help="CamVid root (default: segnet's default_root)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    setting = CrfSetting(iterations=args.iterations)
    one = segnet.load(precision=args.precision, tta="none", refine="none")
    many = segnet.load(precision=args.precision, tta="multiscale", refine="none")
    loaded = load_model(one.weights_path)
    adjustment = crf_prior_adjustment(loaded.prior_offsets, setting)
    print(f"{torch.get_num_threads()} threads; model {one.spec.name} at {one.size}, precision {one.precision}; "
          f"CRF {setting}")
    rows: dict[str, list[float]] = {"one pass": [], "multiscale TTA": [], "CRF: grid": [], "CRF: whole": []}
    batches = frames(args.data, args.frames, one.mean, one.std)
    one.logits(batches[0]), many.logits(batches[0])  # warm-up: oneDNN primitives, first allocations
    for batch in batches:
        rows["one pass"].append(timed(lambda: one.logits(batch))[0])
        seconds, logits = timed(lambda: many.logits(batch))
        rows["multiscale TTA"].append(seconds)
        rgb = rgb_from_normalised(batch, one.mean, one.std)
        rows["CRF: grid"].append(timed(lambda: OccupiedGrid(rgb[0], setting.spatial_sigma, setting.colour_sigma))[0])
        rows["CRF: whole"].append(timed(lambda: refine_logits(logits, rgb, "crf", setting, adjustment))[0])
    height, width = batches[0].shape[-2:]
    print(f"{len(batches)} frames of {height}x{width}; median seconds per frame (min-max):")
    medians = {name: statistics.median(values) for name, values in rows.items()}
    for name, values in rows.items():
        print(f"  {name:<16} {medians[name]:7.3f}  ({min(values):.3f}-{max(values):.3f})")
    share = medians["CRF: whole"] / (medians["multiscale TTA"] + medians["CRF: whole"])
    print(f"CRF / multiscale TTA = {medians['CRF: whole'] / medians['multiscale TTA']:.3f}; "
          f"the CRF is {100 * share:.1f}% of predict's default path (multiscale + CRF); "
          f"CRF / one pass = {medians['CRF: whole'] / medians['one pass']:.2f}")


if __name__ == "__main__":
    main()
