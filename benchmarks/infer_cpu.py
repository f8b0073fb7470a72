"""CPU inference: the fast path against the straightforward reference and ONNX Runtime, in one run.

Paths, all at 3x360x480 (batch 1 and 4):
- reference: float32 eager, BatchNorm unfused, torch's int64 pooling indices (``compact_indices=False``);
- onnxruntime: that reference exported to ONNX (float32) and run by ONNX Runtime on all cores;
- fast-fp32 / fast-bf16: ``segnet.backends.prepare_for_inference`` (BatchNorm folded, channels-last,
  2-bit indices, float32 or bf16);
- fast-int8: ``segnet.quantize`` (oneDNN uint8 x int8 convs, uint8 activations end to end). The
  shipped model uses the ranges calibrated into its checkpoint (``segnet quantize``, 16 CamVid train
  frames); the random-weight ``segnet`` is calibrated on 4 CamVid train frames (random images
  without CamVid).
- ort-int8: the ONNX export quantized by ONNX Runtime's ``quantize_static`` (QDQ, per-channel int8
  weights, uint8 activations: ``segnet export --precision int8``), run by ONNX Runtime;
- openvino-fp32 / openvino-bf16: the ONNX export compiled by OpenVINO with that precision hint;
- openvino-int8: the ONNX export quantized by NNCF at its defaults (``segnet export --format
  openvino --precision int8``), compiled by OpenVINO.
  The peers' int8 models are calibrated on the same frames as fast-int8's.

Also measured in the same run: the machine's peaks (float32 and bf16 matmul, int8 oneDNN conv), achieved GFLOP/s,
peak inference memory above the loaded model (each in a fresh process), and the accuracy cost on
CamVid val with the shipped weights (argmax agreement with the reference, mIoU difference). For
figures on frames the weights never saw, give a held-out twin and its sequence:
``--weights twin_int8.pt --split train+val --sequences 0006R0`` (calibration frames then skip it too).

    python benchmarks/infer_cpu.py [--models segnet,shipped] [--repeats 3] [--data ../shared/camvid]
    python benchmarks/infer_cpu.py --models shipped --batches 1 --paths fast-fp32,fast-int8   # int8 vs float32

``--paths`` runs a subset (the reference always runs: every ratio is against it), e.g. to leave
out the bf16 paths on a CPU that emulates bf16, where they take minutes per image. The summary line
gives ``ov_int8_speedup`` and ``ort_int8_speedup``: the fastest of the project's paths that loses at
most 0.5 mIoU, against OpenVINO int8 and ONNX Runtime int8 (batch 1), for the paths that ran.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import segnet
from segnet.benchmark import _proc_status_kib, _reset_peak_rss
from segnet.spacing import evenly_spaced
from segnet.checkpoint import load_model
from segnet.deploy import export_openvino, quantize_onnx
from segnet.cli.common import parse_names
from segnet.data import CamVid, build_dataset, default_root, eval_transform, select_sequences
from segnet.inference import logits_at_size
from segnet.metrics import ConfusionMatrix
from segnet.models import measure_complexity
from segnet.backends import prepare_for_inference
from segnet.optimize import cpu_has_fast_bf16, cpu_has_fast_int8
from segnet.quantize import calibrate, quantize_model, weight_levels
from segnet.weights import default_weights_path

SIZE = (360, 480)
WEIGHTS: Path | None = None  # --weights: the checkpoint behind 'shipped' (None = the packaged one)
HELD_OUT: tuple[str, ...] = ()  # --sequences: kept out of the calibration frames too
PATHS = ("reference", "onnxruntime", "ort-int8", "openvino-fp32", "openvino-bf16", "openvino-int8",
         "fast-fp32", "fast-bf16", "fast-int8")
OURS = ("fast-int8", "fast-bf16", "fast-fp32")


def matmul_peak(dtype: torch.dtype, n: int = 4096, repeats: int = 3) -> float:
    """Best GFLOP/s of an n x n x n matrix product; for int8, GOP/s of a oneDNN uint8 x int8
    convolution (3x3, 256 channels, 128x128 pixels), the kernels the int8 convs use, since
    ``torch._int_mm`` does not reach AMX on the Xeon here (the int8 paths measured 120-180% of it)."""
    if dtype == torch.int8:
        from segnet.quantize import Grid, QuantizedConv2d

        conv = QuantizedConv2d(torch.nn.Conv2d(256, 256, 3, padding=1), Grid(0.02, 128), Grid(0.05, 0), False)
        x = torch.randint(0, 256, (1, 256, 128, 128), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
        conv(x)
        best = min(_timed(lambda: conv(x)) for _ in range(repeats))
        return 2 * 256 * 256 * 9 * 128 * 128 / best / 1e9
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    product = lambda: a @ b  # noqa: E731
    product()
    best = min(_timed(product) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def shipped_weights() -> Path:
    return WEIGHTS or default_weights_path()


def base_model(name: str, compact: bool) -> torch.nn.Module:
    """'shipped' = the packaged CamVid model (or --weights); otherwise a registry model with random weights."""
    if name == "shipped":
        loaded = load_model(shipped_weights())
        model = segnet.create_model(loaded.spec.name, loaded.spec.num_classes, compact_indices=compact)
        model.load_state_dict(loaded.model.state_dict())
        return model.eval()
    torch.manual_seed(0)
    return segnet.create_model(name, 11, compact_indices=compact).eval()


def calibration_frames(name: str, size) -> list[torch.Tensor]:
    """The frames int8 is calibrated on: 16 CamVid train frames for the shipped model (as `segnet
    quantize`), 4 for the random-weight models; random images without CamVid. Held-out sequences
    (--sequences) are left out, so no path is calibrated on the frames it is scored on."""
    count = 16 if name == "shipped" else 4
    root = default_root("camvid")
    if (root / "train").is_dir():
        train = CamVid(root, "train", transform=eval_transform(None))
        if HELD_OUT:
            train = select_sequences(train, drop=HELD_OUT)
        return [F.interpolate(train[i][0][None], size=size, mode="bilinear", align_corners=False, antialias=True)
                for i in evenly_spaced(count, len(train))]
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(1, 3, *size, generator=generator) for _ in range(count)]


def int8_ranges(name: str, size) -> dict:
    """Calibrated activation ranges: the shipped checkpoint's own, else those of calibration_frames."""
    if name == "shipped":
        ranges = load_model(shipped_weights()).int8_ranges
        if ranges is None:
            raise SystemExit(f"{shipped_weights()}: checkpoint not calibrated for int8: run `segnet quantize "
                             f"--weights {shipped_weights()} --output ...` first")
        return ranges
    return calibrate(base_model(name, compact=True), calibration_frames(name, size))


def _onnx_file(name: str, batch: int, onnx_dir: Path, size) -> Path:
    from segnet.export import export_onnx

    file = onnx_dir / f"{name}-b{batch}-{size[0]}x{size[1]}.onnx"
    if not file.exists():
        export_onnx(base_model(name, compact=False), file, size, batch=batch)
    return file


def _batched(frames: list[torch.Tensor], batch: int) -> list:
    return [torch.cat([f] * batch).numpy() for f in frames]


def _openvino(file: Path, hint: str | None):
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": hint} if hint else {}
    compiled = core.compile_model(core.read_model(str(file)), "CPU", config)
    request = compiled.create_infer_request()
    return lambda x: torch.from_numpy(np.asarray(request.infer({0: x.numpy()})[0]))


def build_path(name: str, path: str, batch: int, onnx_dir: Path, size=None):
    """A callable taking a float32 NCHW batch and returning float32 logits."""
    size = size or SIZE
    if path == "reference":
        model = base_model(name, compact=False)
        return lambda x: model(x)
    if path in ("onnxruntime", "ort-int8"):
        import onnxruntime as ort

        file = _onnx_file(name, batch, onnx_dir, size)
        if path == "ort-int8":
            quantized = file.with_name(file.stem + "-int8.onnx")
            if not quantized.exists():
                quantize_onnx(file, quantized, _batched(calibration_frames(name, size), batch))
            file = quantized
        options = ort.SessionOptions()
        session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        return lambda x: torch.from_numpy(session.run(None, {input_name: x.numpy()})[0])
    if path.startswith("openvino"):
        file = _onnx_file(name, batch, onnx_dir, size)
        if path == "openvino-int8":
            xml = file.with_name(file.stem + "-nncf-int8.xml")
            if not xml.exists():
                export_openvino(file, xml, {}, _batched(calibration_frames(name, size), batch))
            return _openvino(xml, None)
        return _openvino(file, "f32" if path == "openvino-fp32" else "bf16")
    if path == "fast-int8":
        model = quantize_model(base_model(name, compact=True), int8_ranges(name, size))
        return lambda x: model(x)
    precision = "bf16" if path == "fast-bf16" else "fp32"
    model = prepare_for_inference(base_model(name, compact=True), precision, channels_last=True)
    return lambda x: logits_at_size(model, x)


def time_paths(runs: dict, batch: int, warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds per batch of each path, the paths taking turns in every round.

    Interleaving gives every path the same share of whatever the machine does meanwhile (clock,
    neighbours on a shared host), so the ratios hold even when absolute times drift between rounds.
    """
    x = torch.randn(batch, 3, *SIZE)
    times: dict[str, list[float]] = {path: [] for path in runs}
    with torch.no_grad():
        for run in runs.values():
            for _ in range(warmup):
                run(x)
        for _ in range(repeats):
            for path, run in runs.items():
                times[path].append(_timed(lambda: run(x)))
    return {path: statistics.median(values) for path, values in times.items()}


def memory_worker(job: dict) -> dict:
    """In a fresh process: peak RSS of one inference above the loaded model and input."""
    global SIZE, WEIGHTS
    SIZE = tuple(job["size"])
    WEIGHTS = Path(job["weights"]) if job.get("weights") else None
    run = build_path(job["model"], job["path"], job["batch"], Path(job["onnx_dir"]))
    x = torch.randn(job["batch"], 3, *SIZE)
    with torch.no_grad():
        run(x)  # warm-up: kernels, caches, ORT arenas
        (before,) = _proc_status_kib("VmRSS")
        _reset_peak_rss()
        run(x)
    (peak,) = _proc_status_kib("VmHWM")
    return {"peak_mb": (peak - before) * 1024 / 1e6}


def measure_memory(model: str, path: str, batch: int, onnx_dir: Path) -> float:
    job = json.dumps({"model": model, "path": path, "batch": batch, "onnx_dir": str(onnx_dir), "size": SIZE,
                      "weights": str(WEIGHTS) if WEIGHTS else None})
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    result = subprocess.run([sys.executable, __file__, "--memory-worker", job], capture_output=True,
                            text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        raise RuntimeError(f"memory worker {model}/{path} failed: {result.stderr.strip()[-300:]}")
    return json.loads(lines[-1])["peak_mb"]


def selected_paths(names: str | None) -> tuple[str, ...]:
    """--paths in the table's order, the reference first whether named or not."""
    if not names:
        return PATHS
    wanted = parse_names(names)
    unknown = [name for name in wanted if name not in PATHS]
    if unknown:
        raise SystemExit(f"--paths: unknown path {', '.join(unknown)}; known: {', '.join(PATHS)}")
    return tuple(path for path in PATHS if path == "reference" or path in wanted)


def accuracy(data_root: Path, onnx_dir: Path, limit: int, split: str = "val",
             paths: tuple[str, ...] = PATHS) -> dict[str, dict[str, float]]:
    """Shipped weights (or --weights) on a CamVid split, cut to --sequences when given: mIoU per path
    and argmax agreement with the reference."""
    loaded = load_model(shipped_weights())
    size = loaded.size or SIZE
    dataset = build_dataset("camvid", data_root, split, transform=eval_transform(None))
    if HELD_OUT:
        dataset = select_sequences(dataset, keep=HELD_OUT)
    runs = {path: build_path("shipped", path, 1, onnx_dir, size) for path in paths}
    matrices = {path: ConfusionMatrix(11, 11) for path in paths}
    agree = {path: 0 for path in paths}
    total = 0
    count = len(dataset) if not limit else min(limit, len(dataset))
    with torch.no_grad():
        for index in range(count):
            image, label = dataset[index]
            x = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)
            preds = {}
            for path, run in runs.items():
                logits = F.interpolate(run(x).float(), size=label.shape, mode="bilinear", align_corners=False)
                preds[path] = logits.argmax(1)[0]
                matrices[path].update(preds[path], label)
            for path in paths:
                agree[path] += int((preds[path] == preds["reference"]).sum())
            total += label.numel()
    return {path: {"miou": matrices[path].compute()["miou"], "agreement": 100 * agree[path] / total}
            for path in paths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="segnet,shipped")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds, the paths taking turns")
    parser.add_argument("--data", default=None, help="CamVid root for the accuracy part")
    parser.add_argument("--val-limit", type=int, default=0, help="only the first N scored images (0 = all)")
    parser.add_argument("--weights", default=None,
                        help="checkpoint behind 'shipped' (default: the packaged one); for held-out figures, "
                             "a twin trained without --sequences, calibrated by `segnet quantize`")
    parser.add_argument("--split", default="val", help="CamVid split(s) the accuracy part scores, e.g. train+val")
    parser.add_argument("--sequences", default=None, metavar="SEQ[,SEQ]",
                        help="score only these sequences and keep them out of every calibration set")
    parser.add_argument("--size", default="360x480", help="input HxW (smaller only for a quick check)")
    parser.add_argument("--paths", default=None, metavar="PATH[,PATH]",
                        help=f"run only these ({', '.join(PATHS)}); the reference always runs")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global SIZE, WEIGHTS, HELD_OUT
    SIZE = tuple(int(v) for v in args.size.split("x"))
    WEIGHTS = Path(args.weights) if args.weights else None
    HELD_OUT = tuple(parse_names(args.sequences)) if args.sequences else ()
    if args.memory_worker:
        print(json.dumps(memory_worker(json.loads(args.memory_worker))), flush=True)
        return
    paths = selected_paths(args.paths)
    onnx_dir = Path(tempfile.mkdtemp(prefix="segnet-infer-"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, input 3x{SIZE[0]}x{SIZE[1]}; native bf16: "
          f"{cpu_has_fast_bf16()}; native int8 dot products (VNNI/AMX): {cpu_has_fast_int8()}, so the "
          f"project's int8 weights have {'8' if weight_levels() == 127 else '7'} bits")
    # Each peak only where a path is measured against it (an emulated bf16 matmul takes minutes).
    nan = float("nan")
    peak32 = matmul_peak(torch.float32)
    peak16 = matmul_peak(torch.bfloat16) if any("bf16" in path for path in paths) else nan
    peak8 = matmul_peak(torch.int8) if any("int8" in path for path in paths) else nan
    peaks = {"fast-bf16": peak16, "openvino-bf16": peak16, "fast-int8": peak8, "ort-int8": peak8,
             "openvino-int8": peak8}
    print(f"peak: float32 matmul {peak32:.0f} GFLOP/s, bf16 matmul {peak16:.0f} GFLOP/s, int8 conv {peak8:.0f} GOP/s")
    print("| model | path | batch | ms/image | images/s | vs reference | vs onnxruntime | GFLOP/s | share of peak | peak memory (MB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    results: dict[tuple[str, str, int], dict[str, float]] = {}
    for name in args.models.split(","):
        gflops = measure_complexity(base_model(name, True), (3, *SIZE)).gflops
        for batch in (int(b) for b in args.batches.split(",")):
            runs = {path: build_path(name, path, batch, onnx_dir) for path in paths}
            timings = time_paths(runs, batch, args.warmup, args.repeats)
            del runs
            for path in paths:
                memory = measure_memory(name, path, batch, onnx_dir)
                rate = batch / timings[path]
                results[(name, path, batch)] = {"rate": rate, "memory": memory}
                reference = results[(name, "reference", batch)]["rate"]
                ort_rate = results.get((name, "onnxruntime", batch), {}).get("rate")
                achieved = gflops * rate
                peak = peaks.get(path, peak32)
                print(f"| {name} | {path} | {batch} | {1000 / rate:.0f} | {rate:.3f} | {rate / reference:.2f}x | "
                      f"{'' if ort_rate is None else f'{rate / ort_rate:.2f}x'} | {achieved:.0f} | "
                      f"{100 * achieved / peak:.0f}% | {memory:.0f} |", flush=True)
    root = Path(args.data) if args.data else default_root("camvid")
    quality = None
    if (root / "val").is_dir():
        quality = accuracy(root, onnx_dir, args.val_limit, args.split, paths)
        scored = f"CamVid {args.split}" + (f", sequences {','.join(HELD_OUT)}" if HELD_OUT else "")
        print(f"\n| path ({shipped_weights().name}, {scored}) | mIoU | points lost | argmax agreement with reference |")
        print("| --- | ---: | ---: | ---: |")
        for path, q in quality.items():
            print(f"| {path} | {q['miou']:.2f} | {quality['reference']['miou'] - q['miou']:.2f} | {q['agreement']:.3f}% |")
    else:
        print(f"\n(accuracy part skipped: no CamVid val at {root})")
    name = args.models.split(",")[0]
    rate = {path: results[(name, path, 1)]["rate"] for path in paths if (name, path, 1) in results}
    if not rate:
        return  # batch 1 not measured: no summary
    candidates = [path for path in OURS if path in rate]
    if quality:
        candidates = [p for p in candidates if quality["reference"]["miou"] - quality[p]["miou"] <= 0.5]
    fastest = max(candidates or ["reference"], key=rate.__getitem__)
    gflops = measure_complexity(base_model(name, True), (3, *SIZE)).gflops
    for path, peak, kind in (("fast-int8", peak8, "int8 conv"), ("fast-bf16", peak16, "bf16")):
        if path in rate:
            print(f"{path} ({name}, batch 1): {100 * gflops * rate[path] / peak:.0f}% of the {kind} peak")
    print(f"\nfastest path within 0.5 mIoU: {fastest} ({name}, batch 1)")
    if quality:
        for peer in ("openvino-int8", "ort-int8"):
            if peer in quality:
                print(f"{peer}: {quality[peer]['miou']:.2f} mIoU "
                      f"({quality['reference']['miou'] - quality[peer]['miou']:.2f} below the reference)")
    ratios = {"ov_int8_speedup": "openvino-int8", "ort_int8_speedup": "ort-int8", "speedup": "reference",
              "ort_speedup": "onnxruntime"}
    fields = [f"{field}={rate[fastest] / rate[peer]:.2f}" for field, peer in ratios.items() if peer in rate]
    if "fast-fp32" in rate:
        fields.append(f"fp32_speedup={rate['fast-fp32'] / rate['reference']:.2f}")
    if "fast-int8" in rate and "fast-fp32" in rate:
        fields.append(f"int8_vs_fp32={rate['fast-int8'] / rate['fast-fp32']:.2f}")
    if "fast-bf16" in rate:
        fields.append(f"peak_share={gflops * rate['fast-bf16'] / peak16:.2f}")
    best_memory, reference_memory = results[(name, fastest, 1)]["memory"], results[(name, "reference", 1)]["memory"]
    fields.append(f"memory_ratio={best_memory / reference_memory:.2f}")
    if quality:
        fields.append(f"miou_delta={quality['reference']['miou'] - quality[fastest]['miou']:.2f}")
    print("summary: " + " ".join(fields))

if __name__ == "__main__":
    main()
