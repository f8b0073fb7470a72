"""The SegNet paper's decoder study on your machine: SegNet-Basic family, same budget, CamVid val.

Each variant is trained with `segnet train` settings that are identical but for the model
(size, epochs, batch, learning rate, seed), evaluated on val with G, C, mIoU and BF, and measured
for parameters and peak inference memory (fresh process, `segnet.benchmark`). Writes
``OUT/report.md``, ``OUT/report.csv`` and ``OUT/scatter.png`` (mIoU against inference memory
and against parameters), to set beside the paper's Table 1.

    python benchmarks/decoder_study.py --size 90x120 --epochs 6 --output docs/decoder_study
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from segnet.benchmark import BenchmarkSettings, run_memory_worker  # noqa: E402
from segnet.checkpoint import load_model  # noqa: E402
from segnet.data import build_dataset, default_root, eval_transform  # noqa: E402
from segnet.engine import TrainConfig, evaluate_model, train  # noqa: E402
from segnet.models import count_parameters  # noqa: E402

VARIANTS = [
    "segnet_basic",
    "segnet_basic_singlechanneldecoder",
    "segnet_basic_encoderaddition",
    "fcn_basic",
    "fcn_basic_noaddition",
    "fcn_basic_nodimreduction",
    "fcn_basic_noaddition_nodimreduction",
    "bilinear_basic",
]


def study(args: argparse.Namespace) -> list[dict]:
    size = tuple(int(v) for v in args.size.split("x"))
    root = Path(args.data) if args.data else default_root("camvid")
    out = Path(args.output)
    rows = []
    for name in args.models.split(","):
        run_dir = out / "runs" / name
        config = TrainConfig(model=name, dataset="camvid", data_root=str(root), size=size, epochs=args.epochs,
                             batch_size=args.batch_size, lr=args.lr, amp=args.amp, channels_last=True,
                             workers=args.workers, seed=args.seed, val_every=args.epochs, run_dir=str(run_dir),
                             resume=(run_dir / "last.pt").exists(), max_steps=args.max_steps)
        start = time.monotonic()
        try:
            train(config, progress_bar=not args.no_progress)
        except FloatingPointError as error:  # diverged at this budget's learning rate: report it
            print(f"{name}: {error}", flush=True)
            rows.append({"model": name, "params_m": float("nan"), "inference_mb_360x480": float("nan"),
                         "G": float("nan"), "C": float("nan"), "mIoU": float("nan"), "BF": float("nan"),
                         "train_minutes": (time.monotonic() - start) / 60, "note": "diverged (NaN loss)"})
            continue
        minutes = (time.monotonic() - start) / 60
        loaded = load_model(run_dir / "last.pt")
        val = build_dataset("camvid", root, "val", eval_transform(None))
        scores = evaluate_model(loaded.model, val, size, torch.device("cpu"), progress=not args.no_progress)
        settings = BenchmarkSettings(input_shape=(3, 360, 480), num_classes=11)
        memory = run_memory_worker(name, "inference", settings)["peak_mb"]
        rows.append({"model": name, "params_m": count_parameters(loaded.model) / 1e6,
                     "inference_mb_360x480": memory, "G": scores["global_accuracy"], "C": scores["class_accuracy"],
                     "mIoU": scores["miou"], "BF": scores["bf"], "train_minutes": minutes, "note": ""})
        print(f"{name}: G {scores['global_accuracy']:.1f} C {scores['class_accuracy']:.1f} "
              f"mIoU {scores['miou']:.1f} BF {scores['bf']:.1f}, {memory:.0f} MB", flush=True)
    return rows


def write_report(rows: list[dict], args: argparse.Namespace, command: str) -> None:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "report.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "# Decoder study (SegNet-Basic family, CamVid val)", "",
        f"Command: `{command}`", "",
        f"Budget: {args.epochs} epochs at {args.size}, batch {args.batch_size}, lr {args.lr} (poly), "
        f"seed {args.seed}, {args.amp} autocast; the same for every variant. Metrics on CamVid val at the "
        "labels' resolution; inference memory at 3x360x480 in a fresh process.", "",
        "| model | params (M) | inference memory (MB) | G | C | mIoU | BF | training (min) | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params_m']:.2f} | {r['inference_mb_360x480']:.0f} | {r['G']:.1f} | "
                     f"{r['C']:.1f} | {r['mIoU']:.1f} | {r['BF']:.1f} | {r['train_minutes']:.1f} | {r['note']} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for axis, key, label in ((axes[0], "inference_mb_360x480", "peak inference memory at 360x480 (MB)"),
                             (axes[1], "params_m", "parameters (M)")):
        for r in (r for r in rows if r["mIoU"] == r["mIoU"]):  # skip diverged (NaN) runs
            axis.scatter(r[key], r["mIoU"])
            axis.annotate(r["model"].replace("segnet_basic_", "sb_"), (r[key], r["mIoU"]), fontsize=7)
        axis.set_xlabel(label)
        axis.set_ylabel("val mIoU (%)")
        axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "scatter.png", dpi=110)
    plt.close(figure)


def main() -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(VARIANTS))
    parser.add_argument("--size", default="90x120")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--amp", default="bf16", choices=["none", "bf16"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None, help="cap per variant (a smoke run)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--output", default="docs/decoder_study")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    rows = study(args)
    write_report(rows, args, "python " + " ".join(sys.argv))
    print(f"report: {Path(args.output) / 'report.md'}")


if __name__ == "__main__":
    main()
