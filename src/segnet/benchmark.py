"""Speed, memory and size of registered models, laid out like the SegNet paper's computational table.

For each model: parameters, model size (a saved float32 state dict, MB = 10^6 bytes), GFLOPs of
one image (:func:`measure_complexity`, meta device), forward and backward time, and peak training
and inference memory.

- Forward time: inference, i.e. ``eval()`` under ``torch.no_grad()``. Backward time: the
  ``loss.backward()`` of a training-mode step (cross-entropy on random labels), timed on its own
  after an untimed forward. Both are medians of ``repeats`` runs after ``warmup`` runs, with the
  device synchronised around each timed call.
- Memory: each figure comes from a FRESH process (``python -m segnet.benchmark --worker ...``)
  so nothing another model or measurement left behind counts. The worker builds the model and
  input, runs one untimed step (lazy kernels, oneDNN/cuDNN caches), frees it, then measures one
  step: on CUDA ``max_memory_allocated`` minus what was allocated before it; on CPU the resident
  set's high-water mark (VmHWM, reset by writing 5 to /proc/self/clear_refs) minus VmRSS before
  it. glibc is told to map every buffer over 64 KiB separately, so freed buffers go back to the
  system and the warm-up step cannot hide the measured step's allocations. The figure is memory
  *above* the loaded model and input: activations, workspace and, in training, the gradients
  (no optimiser state). The model itself is the "model size" column.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .devices import resolve_device
from .models import create_model, measure_complexity, model_entry

RESULT_PREFIX = "SEGNET_BENCHMARK_RESULT "
MODES = ("training", "inference")


@dataclass(frozen=True)
class BenchmarkSettings:
    input_shape: tuple[int, int, int] = (3, 360, 480)  # C, H, W: the paper's CamVid size
    batch: int = 1  # the paper times one image
    device: str = "cpu"
    repeats: int = 5  # timed runs; medians are reported
    warmup: int = 2  # untimed runs first (allocator, kernel selection)
    num_classes: int = 11  # CamVid

    def __post_init__(self) -> None:
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input shape must be C, H, W (positive), got {self.input_shape}")
        if self.batch < 1 or self.repeats < 1 or self.warmup < 0 or self.num_classes < 1:
            raise ValueError("batch, repeats and num_classes must be at least 1 and warmup at least 0")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got '{self.device}'")

    @property
    def input_text(self) -> str:
        return "x".join(str(v) for v in (self.batch, *self.input_shape))


@dataclass
class BenchmarkRow:
    model: str
    forward_ms: float
    backward_ms: float
    training_memory_mb: float
    inference_memory_mb: float
    model_size_mb: float
    parameters: int
    gflops: float  # one image


CSV_FIELDS = [f.name for f in fields(BenchmarkRow)] + ["device", "input"]



def model_size_mb(model: nn.Module) -> float:
    """Size of the model's state dict saved as float32, in MB (10^6 bytes)."""
    state = {k: (v.float() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        torch.save(state, path)
        return path.stat().st_size / 1e6


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inputs(settings: BenchmarkSettings, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    _, height, width = settings.input_shape
    x = torch.randn(settings.batch, *settings.input_shape, generator=generator)
    target = torch.randint(0, settings.num_classes, (settings.batch, height, width), generator=generator)
    return x.to(device), target.to(device)


def _median_ms(run: Callable[[], float], settings: BenchmarkSettings) -> float:
    times = [run() for _ in range(settings.warmup + settings.repeats)]
    return statistics.median(times[settings.warmup:]) * 1000


def time_model(model: nn.Module, settings: BenchmarkSettings) -> tuple[float, float]:
    """(forward ms in inference, backward ms of a training step): medians after warm-up."""
    device = next(model.parameters()).device
    x, target = _inputs(settings, device)

    def forward() -> float:
        _synchronize(device)
        start = time.perf_counter()
        model(x)
        _synchronize(device)
        return time.perf_counter() - start

    def backward() -> float:
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), target)
        _synchronize(device)
        start = time.perf_counter()
        loss.backward()
        _synchronize(device)
        return time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        forward_ms = _median_ms(forward, settings)
    model.train()
    backward_ms = _median_ms(backward, settings)
    model.zero_grad(set_to_none=True)
    return forward_ms, backward_ms


# ---- memory: one fresh worker process per measurement ----------------------------------------

def _proc_status_kib(*keys: str) -> list[int]:
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            values[key] = rest.split()[0] if rest.split() else "0"
    return [int(values[key]) for key in keys]


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def measure_peak_memory(name: str, mode: str, settings: BenchmarkSettings) -> dict[str, float | bool | str]:
    """Peak memory of one training step or one inference pass, in THIS process (the worker's job)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got '{mode}'")
    device = resolve_device(settings.device)
    torch.manual_seed(0)
    model = create_model(name, settings.num_classes, in_channels=settings.input_shape[0]).to(device)
    x, target = _inputs(settings, device)
    training = mode == "training"
    model.train(training)

    def step() -> None:
        if training:
            F.cross_entropy(model(x), target).backward()
        else:
            with torch.no_grad():
                model(x)

    step()  # warm-up: lazily loaded kernels and primitive caches are not the model's memory
    model.zero_grad(set_to_none=True)  # the measured step allocates its gradients again
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - baseline
        return {"peak_mb": peak / 1e6, "baseline_mb": baseline / 1e6, "method": "cuda max_memory_allocated"}
    (baseline_kib,) = _proc_status_kib("VmRSS")
    # Without a reset the high-water mark is the warm-up step's, the same step: still a fair peak.
    reset = _reset_peak_rss()
    step()
    (peak_kib,) = _proc_status_kib("VmHWM")
    return {"peak_mb": (peak_kib - baseline_kib) * 1024 / 1e6, "baseline_mb": baseline_kib * 1024 / 1e6,
            "method": "VmHWM - VmRSS" + ("" if reset else " (VmHWM not reset)"), "hwm_reset": reset}


def run_memory_worker(name: str, mode: str, settings: BenchmarkSettings) -> dict[str, float | bool | str]:
    """Run :func:`measure_peak_memory` in a fresh Python process and return its result."""
    job = json.dumps({"model": name, "mode": mode, "settings": asdict(settings)})
    env = dict(os.environ)
    # Buffers over 64 KiB get their own mapping, returned to the system when freed (see above).
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")
    env.setdefault("MALLOC_TRIM_THRESHOLD_", "0")
    result = subprocess.run([sys.executable, "-m", "segnet.benchmark", "--worker", job],
                            capture_output=True, text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if result.returncode != 0 or not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory worker for {name} ({mode}) failed with status {result.returncode}: {tail}")
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def worker_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segnet.benchmark",
                                     description="Memory worker of `segnet benchmark` (one measurement).")
    parser.add_argument("--worker", required=True, help="JSON job: model, mode, settings")
    job = json.loads(parser.parse_args(argv).worker)
    settings = dict(job["settings"])
    settings["input_shape"] = tuple(settings["input_shape"])
    result = measure_peak_memory(job["model"], job["mode"], BenchmarkSettings(**settings))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# ---- orchestration and reports ---------------------------------------------------------------

def benchmark_model(name: str, settings: BenchmarkSettings) -> BenchmarkRow:
    device = resolve_device(settings.device)
    in_channels = settings.input_shape[0]
    with torch.device("meta"):  # counting needs shapes only
        cost = measure_complexity(create_model(name, settings.num_classes, in_channels=in_channels),
                                  settings.input_shape)
    torch.manual_seed(0)
    model = create_model(name, settings.num_classes, in_channels=in_channels).to(device)
    size_mb = model_size_mb(model)
    forward_ms, backward_ms = time_model(model, settings)
    del model
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    memory = {mode: float(run_memory_worker(name, mode, settings)["peak_mb"]) for mode in MODES}
    return BenchmarkRow(name, forward_ms, backward_ms, memory["training"], memory["inference"],
                        size_mb, cost.parameters, cost.gflops)


def run_benchmark(names: Sequence[str], settings: BenchmarkSettings, progress: bool = True) -> list[BenchmarkRow]:
    for name in names:
        model_entry(name)  # unknown names fail before any work, listing the known ones
    resolve_device(settings.device)
    rows = []
    bar = tqdm(names, desc="benchmark", unit="model", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        rows.append(benchmark_model(name, settings))
    return rows


def describe_hardware(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "CPU"
    return f"{model}, {torch.get_num_threads()} threads"


def markdown_table(rows: Sequence[BenchmarkRow], settings: BenchmarkSettings) -> str:
    where = "GPU" if settings.device == "cuda" else "CPU"
    lines = [
        f"Input {settings.input_text} (NxCxHxW), {settings.num_classes} classes, "
        f"{settings.device} ({describe_hardware(settings.device)}), torch {torch.__version__}; "
        f"medians of {settings.repeats} runs after {settings.warmup} warm-up runs.",
        "Forward: inference (eval, no_grad). Backward: loss.backward() of a training step, timed alone. "
        "Memory: peak above the loaded model and input, each in a fresh process, training including "
        "gradients. Model size: float32 state dict file. MB = 10^6 bytes. GFLOPs: one image.",
        "",
        f"| Model | Forward pass (ms) | Backward pass (ms) | {where} training memory (MB) "
        f"| {where} inference memory (MB) | Model size (MB) | Parameters (M) | GFLOPs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r.model} | {r.forward_ms:.1f} | {r.backward_ms:.1f} | {r.training_memory_mb:.0f} "
                     f"| {r.inference_memory_mb:.0f} | {r.model_size_mb:.1f} | {r.parameters / 1e6:.2f} "
                     f"| {r.gflops:.1f} |")
    return "\n".join(lines) + "\n"


def write_csv(rows: Sequence[BenchmarkRow], settings: BenchmarkSettings, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**asdict(row), "device": settings.device, "input": settings.input_text})


def plot_rows(rows: Sequence[BenchmarkRow], settings: BenchmarkSettings, path: Path) -> None:
    """Two bar charts side by side: inference memory and forward time per model."""
    from matplotlib.figure import Figure  # Agg via savefig; imported here so workers stay light

    names = [r.model for r in rows]
    figure = Figure(figsize=(10, 1.5 + 0.45 * len(rows)))
    panels = figure.subplots(1, 2, sharey=True)
    for axes, values, label in zip(
        panels,
        ([r.inference_memory_mb for r in rows], [r.forward_ms for r in rows]),
        ("inference memory (MB)", "forward pass (ms)"),
    ):
        axes.barh(names, values, color="tab:blue")
        axes.set_xlabel(label)
        axes.grid(True, axis="x", alpha=0.3)
        axes.bar_label(axes.containers[0], fmt="%.0f", padding=2, fontsize=8)
    panels[0].invert_yaxis()  # first model on top, as in the table (the y axis is shared)
    figure.suptitle(f"{settings.device}, input {settings.input_text}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def write_report(rows: Sequence[BenchmarkRow], settings: BenchmarkSettings, out_dir: str | Path) -> dict[str, Path]:
    """benchmark.md, benchmark.csv and benchmark.png in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "benchmark.md", "csv": out_dir / "benchmark.csv",
             "chart": out_dir / "benchmark.png"}
    paths["markdown"].write_text("# Model benchmark\n\n" + markdown_table(rows, settings))
    write_csv(rows, settings, paths["csv"])
    plot_rows(rows, settings, paths["chart"])
    return paths


if __name__ == "__main__":
    sys.exit(worker_main())
