"""Training feed throughput: loader workers against `--augment-on-device`, measured in one run.

Builds CamVid's training set with the transforms `segnet train` uses (working size, random scale
0.75-1.25 and crop back, colour jitter, flip) and times batches arriving on the device: from a
DataLoader with ``--workers`` processes (decoding, PIL augmentation, collating, pinning) and from
the DeviceAugmenter (frames decoded once into device memory, augmented there). With ``--steps``,
it also times whole SegNet-Basic training steps fed each way. Prints images/s and the ratio of
the device feed to the loader.

    python benchmarks/train_feed.py --data-root ../shared/camvid --device cuda --workers 8 --steps 30
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from segnet.data.device_augment import DeviceAugmenter
from segnet.engine import TrainConfig
from segnet.engine.loss import summed_cross_entropy
from segnet.engine.trainer import EpochSampler, training_datasets
from segnet.inference import autocast_context
from segnet.models import create_model
from torch.utils.data import DataLoader, DistributedSampler


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def feed_rate(batches, count: int, warmup: int, device: torch.device, step=None) -> float:
    """Images/s over ``count`` batches after ``warmup`` batches; ``step`` runs on each batch if given.

    The loader's warm-up drains the batches its workers prefetched while nothing was consumed, so
    what is timed is the rate they keep up.
    """
    images_done = 0
    start = 0.0
    for position, (images, labels) in enumerate(itertools.islice(batches, warmup + count)):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        if step is not None:
            step(images, labels)
        if position == warmup - 1:
            _sync(device)
            start = time.perf_counter()
        elif position >= warmup:
            images_done += images.shape[0]
    _sync(device)
    return images_done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", default="360x480")
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20, help="timed batches of the feed alone")
    parser.add_argument("--steps", type=int, default=0, help="timed training steps fed each way (0: skip)")
    args = parser.parse_args()
    device = torch.device(args.device)
    height, width = (int(side) for side in args.size.split("x"))
    cfg = TrainConfig(model="segnet_basic", data_root=args.data_root, train_split="train+val", val_split=None,
                      size=(height, width), color_jitter=0.25, batch_size=args.batch_size, workers=args.workers,
                      seed=1)
    _, train_set, _ = training_datasets(cfg, {})
    sampler = EpochSampler(DistributedSampler(train_set, num_replicas=1, rank=0, shuffle=True, seed=1,
                                              drop_last=True))
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, num_workers=args.workers,
                        drop_last=True, pin_memory=device.type == "cuda", persistent_workers=args.workers > 0)

    def loader_batches():
        for epoch in itertools.count():
            sampler.start(epoch, 0)
            yield from loader

    step = None
    if args.steps:
        torch.manual_seed(0)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model = create_model("segnet_basic", 11).to(device, memory_format=torch.channels_last).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def step(images, labels):
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(device, "bf16"):
                logits = model(images.contiguous(memory_format=torch.channels_last))
            summed_cross_entropy(logits, labels, None, 11).backward()
            optimizer.step()

    # The loader first, alone: its workers must not prefetch while the device feed decodes.
    rows = [("feed alone", None, args.batches)] + ([("training step", step, args.steps)] if step else [])
    batches = loader_batches()
    from_loader = [feed_rate(batches, count, 2 * args.workers + 2, device, run) for _, run, count in rows]
    del batches, loader
    start = time.perf_counter()
    augmenter = DeviceAugmenter(train_set, device, threads=max(1, args.workers))
    preload = time.perf_counter() - start

    def device_batches():
        for epoch in itertools.count():
            sampler.start(epoch, 0)
            yield from augmenter.batches(sampler, args.batch_size)

    batches = device_batches()
    from_device = [feed_rate(batches, count, 2, device, run) for _, run, count in rows]
    print(f"{len(train_set)} frames at {height}x{width}, batch {args.batch_size}, device {device}, "
          f"{args.workers} loader workers; device feed preload {preload:.1f} s")
    print("| what | loader images/s | device feed images/s | device / loader |")
    print("| --- | ---: | ---: | ---: |")
    for (name, _, _), a, b in zip(rows, from_loader, from_device):
        print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
