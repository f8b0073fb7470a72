"""Training throughput (images/s) of segnet and segnet_basic on this machine.

For each model, size, precision and memory format: a few warm-up steps, then timed SGD steps
(forward, weighted cross-entropy, backward, update) on random data; prints a markdown table.
float32/contiguous is the reference each row's ratio is measured against, in the same run.

    python benchmarks/train_throughput.py [--models segnet,segnet_basic] [--sizes 360x480,180x240]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import segnet
from segnet.engine.loss import loss_normalizer, summed_cross_entropy
from segnet.inference import autocast_context


def images_per_second(model_name: str, size: tuple[int, int], amp: str, channels_last: bool,
                      batch: int, warmup: int, steps: int) -> float:
    torch.manual_seed(0)
    model = segnet.create_model(model_name, 11).train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(batch, 3, *size).contiguous(memory_format=memory_format)
    labels = torch.randint(0, 12, (batch, *size))
    weights = torch.rand(11) + 0.5
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(images.device, amp):
            logits = model(images)
        loss = summed_cross_entropy(logits, labels, weights, 11) / loss_normalizer(labels, weights, 11)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="segnet,segnet_basic")
    parser.add_argument("--sizes", default="360x480,180x240")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, batch {args.batch}")
    print("| model | size | precision | channels-last | images/s | vs fp32 contiguous |")
    print("| --- | --- | --- | --- | ---: | ---: |")
    for name in args.models.split(","):
        for size_text in args.sizes.split(","):
            size = tuple(int(v) for v in size_text.split("x"))
            reference = None
            for amp in ("none", "bf16"):
                for channels_last in (False, True):
                    rate = images_per_second(name, size, amp, channels_last, args.batch, args.warmup, args.steps)
                    reference = reference or rate
                    print(f"| {name} | {size_text} | {'bf16' if amp == 'bf16' else 'fp32'} | "
                          f"{'on' if channels_last else 'off'} | {rate:.2f} | {rate / reference:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
