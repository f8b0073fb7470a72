"""The training loop: SGD on weighted pixel-wise cross-entropy, validation, checkpoints, resume.

Reads top to bottom: set-up (data, model, optimiser, resume), then epochs of optimiser steps,
each epoch ending with validation, metrics.csv, plots and checkpoints. Works in one process or
under ``torchrun`` (DDP: DistributedSampler, gradients all-reduced, only rank 0 writes files).
"""

from __future__ import annotations

import csv
import io
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from tqdm import tqdm

from ..data import (IMAGENET_MEAN, IMAGENET_STD, SegmentationDataset, build_dataset, cached_median_frequency_weights,
                    eval_transform, select_sequences)
from ..data.device_augment import DeviceAugmenter
from ..data.paste import paste_by_name
from ..data.transforms import ColorJitter, Compose, Normalize, RandomHorizontalFlip, RandomScaleCrop, Resize, ToTensor
from ..inference import autocast_context
from ..models import create_model, load_vgg16_encoder_weights
from ..spacing import evenly_spaced
from ..checkpoint import CheckpointError, atomic_save, atomic_write_text, make_checkpoint, read_checkpoint
from .config import TrainConfig
from .distributed import DistInfo, all_reduce_sum, barrier, init_distributed
from .evaluate import evaluate_model
from .header import resume_line, run_header
from .loss import loss_normalizer, summed_cross_entropy, summed_lovasz_softmax
from .plots import plot_metrics
from .samples import SampleCollector, write_panel
from .stop import StopRequests, TrainingStopped
from .tensorboard_log import TensorBoardLog

METRICS_FIELDS = ["epoch", "step", "lr", "train_loss", "images_per_s", "epoch_seconds",
                  "val_global_accuracy", "val_class_accuracy", "val_miou"]


class EpochSampler(Sampler[tuple[int, int]]):
    """One epoch's shuffled order as ``(epoch, index)`` pairs, its first ``skip`` left out.

    Re-aimed with :meth:`start` before each epoch, so one loader serves the whole run and its
    workers persist instead of starting again every epoch (a pause that weighs on short GPU
    epochs); the epoch travels with each index because persistent workers keep their own copy
    of the dataset.
    """

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler, self.epoch, self.skip = sampler, 0, 0

    def start(self, epoch: int, skip: int) -> None:
        """Aim at ``epoch``, resuming after its first ``skip`` items (a mid-epoch resume)."""
        self.epoch, self.skip = epoch, skip
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for position, index in enumerate(self.sampler):
            if position >= self.skip:
                yield self.epoch, index

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0  # current epoch (0-based)
    step_in_epoch: int = 0  # optimiser steps done in this epoch
    global_step: int = 0
    best_miou: float = -1.0
    epoch_loss_sum: float = 0.0  # running sums of this epoch, so a resumed epoch reports its whole loss
    epoch_images: int = 0


def training_transform(cfg: TrainConfig, ignore_index: int) -> Compose:
    """Resize to the working size; random rescale (scale_aug) and crop to ``crop`` (or back to the
    working size); colour jitter; flip.

    Cropping at the working size lets a step see objects at the scale the model will meet them at
    while costing only the crop's share of a frame.
    """
    steps: list = [] if cfg.size is None else [Resize(*cfg.size)]
    scale = cfg.scale_range if cfg.scale_aug else (1.0, 1.0)
    if cfg.scale_aug or cfg.crop is not None:
        steps.append(RandomScaleCrop(cfg.crop or cfg.size, scale=scale, ignore_index=ignore_index))
    if cfg.color_jitter > 0:
        s = cfg.color_jitter
        steps.append(ColorJitter(brightness=s, contrast=s, saturation=s, hue=s / 6))
    steps += [RandomHorizontalFlip(0.5), ToTensor(), Normalize()]
    return Compose(steps)


def learning_rate(cfg: TrainConfig, step: int, total_steps: int, steps_per_epoch: int = 1) -> float:
    """Linear warm-up from lr/100 over ``warmup_epochs``, then poly (power 0.9), cosine or constant."""
    warmup = min(total_steps, round(cfg.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return cfg.lr * (0.01 + 0.99 * step / warmup)
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(step - warmup, total_steps - warmup) / max(1, total_steps - warmup)
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * (1 - progress) ** 0.9


def training_datasets(cfg: TrainConfig, extra: dict[str, Any]
                      ) -> tuple[SegmentationDataset, SegmentationDataset, SegmentationDataset | None]:
    """(unaugmented training set for class statistics, augmented training set, validation set or None).

    With ``holdout``, the named sequences leave the training splits and the validation set is
    every frame of them in the training and validation splits together.
    """
    def build(split: str, transform) -> SegmentationDataset:
        return build_dataset(cfg.dataset, cfg.data_root, split, transform, cfg.seed, **extra)

    probe = build(cfg.train_split, None)
    train_set = build(cfg.train_split, training_transform(cfg, probe.classes.ignore_index))
    val_set = None
    if cfg.holdout is not None:
        held = cfg.holdout_sequences
        splits = cfg.train_split.split("+") + [s for s in (cfg.val_split or "").split("+")
                                               if s and s not in cfg.train_split.split("+")]
        val_set = select_sequences(build("+".join(splits), eval_transform(None)), keep=held)
        probe = select_sequences(probe, drop=held)
        train_set = select_sequences(train_set, drop=held)
    elif cfg.val_split:
        val_set = build(cfg.val_split, eval_transform(None))
    if cfg.paste_classes:
        train_set.paste = paste_by_name(train_set.classes, cfg.paste_classes.split(","), cfg.paste_prob)
    return probe, train_set, val_set


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_metrics_row(path: Path, row: dict[str, Any] | None, keep_below: int) -> None:
    """Rewrite metrics.csv with the rows of epochs below ``keep_below`` and then ``row``.

    A run killed after writing an epoch's row but before its checkpoint redoes that epoch on
    resume; dropping the rows from that epoch on keeps one row per epoch.
    """
    rows = []
    if path.exists():
        with path.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("epoch", "").isdigit() and int(r["epoch"]) < keep_below]
    if row is not None:
        rows.append({k: row.get(k, "") for k in METRICS_FIELDS})
    if not rows and not path.exists():
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRICS_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse a folder that holds something else than this run; clear temporary files a kill left."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{run_dir}: run directory is a file; choose another --run-dir")
    if not resume and run_dir.is_dir() and any(run_dir.iterdir()):
        held = "a run" if (run_dir / "last.pt").exists() else "other files"
        raise ValueError(f"{run_dir} already holds {held}; pass --resume to continue a run or choose another "
                         "(empty or new) --run-dir")
    try:  # prove the folder takes files now, not after the first epoch
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"--run-dir {run_dir}: cannot write there ({error.strerror or error})") from None
    for stale in list(run_dir.glob(".last.pt.*.tmp")) + list(run_dir.glob(".best.pt.*.tmp")):
        stale.unlink(missing_ok=True)


def train(cfg: TrainConfig, progress_bar: bool = True) -> Path:
    """Train as configured; returns the run directory (with best.pt, last.pt, metrics.csv, plots)."""
    cfg.validate()
    dist_info = init_distributed(cfg.device)
    device = torch.device(cfg.device, dist_info.local_rank) if cfg.device == "cuda" else torch.device("cpu")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: CUDA is not available on this machine; use --device cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every batch has the working size: tune the convolutions once
    run_dir = Path(cfg.run_dir)
    last_path = run_dir / "last.pt"
    if dist_info.is_main:
        _check_run_dir(run_dir, cfg.resume)

    # Data: the same seeded augmentations whatever the number of processes or workers.
    extra = {"use_depth": cfg.use_depth} if cfg.dataset == "sunrgbd" else {}
    if cfg.dataset == "folder" and cfg.classes_file:
        extra["classes_file"] = cfg.classes_file
    probe, train_set, val_set = training_datasets(cfg, extra)
    classes = probe.classes
    micro_batches_per_epoch = len(train_set) // (cfg.batch_size * dist_info.world_size)
    steps_per_epoch = micro_batches_per_epoch // cfg.accum_steps
    if steps_per_epoch < 1:
        raise ValueError(f"{len(train_set)} training images are fewer than one global batch of "
                         f"{cfg.batch_size * cfg.accum_steps * dist_info.world_size}")
    total_steps = cfg.epochs * steps_per_epoch

    class_weights = None
    if cfg.class_weights == "median":
        # Rank 0 computes and caches; the others then read the cache.
        cache = Path(os.environ.get("SEGNET_CACHE", Path.home() / ".cache" / "segnet"))
        if dist_info.is_main:
            class_weights = cached_median_frequency_weights(probe, cache)
        barrier()
        if not dist_info.is_main:
            class_weights = cached_median_frequency_weights(probe, cache)

    # Model and optimiser, identical on every rank.
    torch.manual_seed(cfg.seed)
    in_channels = 4 if cfg.use_depth else 3
    model = create_model(cfg.model, classes.num_classes, in_channels)
    if cfg.encoder_weights:
        if not hasattr(model, "encoder") or not hasattr(model.encoder, "conv_units"):
            raise ValueError(f"model '{cfg.model}' has no VGG16 encoder to load {cfg.encoder_weights} into")
        load_vgg16_encoder_weights(model.encoder, cfg.encoder_weights)
    if cfg.init_weights and not cfg.resume:
        shift = _load_initial_weights(Path(cfg.init_weights), model, cfg, classes.num_classes)
        if shift is not None and dist_info.is_main:
            # An inference-time correction of a weighted run: the weighted loss learns the prior back.
            print(f"segnet train: note: {cfg.init_weights} has its class prior shifted (alpha {shift['alpha']:g}); "
                  f"to continue it as trained, start from `segnet shift-prior --weights {cfg.init_weights} --undo` "
                  "and shift the result again", file=sys.stderr)
    model.to(device, memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    # The average covers the BatchNorm buffers too, so ema.pt is a complete model on its own.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True) \
        if cfg.ema_decay else None
    state = Progress()
    if cfg.resume and last_path.exists():
        state = _resume(last_path, model, optimizer, cfg, classes, ema)
    board = None
    if dist_info.is_main:
        for line in run_header(cfg, model, classes, len(train_set), None if val_set is None else len(val_set),
                               class_weights, steps_per_epoch, dist_info.world_size, device):
            print(line, flush=True)
        if cfg.resume and last_path.exists():
            print(resume_line(last_path, state.epoch, state.step_in_epoch, state.global_step, steps_per_epoch,
                              cfg.epochs), flush=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run_dir / "config.json")
        board = TensorBoardLog(run_dir) if cfg.tensorboard else None
    sample_indices = evenly_spaced(cfg.val_samples, len(val_set)) if val_set is not None else []
    trained = DistributedDataParallel(model) if dist_info.enabled else model

    # What validation scores and best.pt keeps: the weight average when there is one.
    scored = model if ema is None else ema.module

    def save(path: Path, extra_fields: dict[str, Any], weights: nn.Module = model) -> None:
        if dist_info.is_main:
            atomic_save(make_checkpoint(weights, classes, IMAGENET_MEAN, IMAGENET_STD, cfg.size, **extra_fields), path)

    def training_state() -> dict[str, Any]:
        fields = {"optimizer": optimizer.state_dict(), "progress": vars(state).copy(), "rng": _rng_state(),
                  "config": vars(cfg).copy() | {"size": list(cfg.size) if cfg.size else None}}
        return fields if ema is None else fields | {"ema": ema.state_dict()}

    epoch_sampler = EpochSampler(DistributedSampler(train_set, num_replicas=dist_info.world_size, rank=dist_info.rank,
                                                    shuffle=True, seed=cfg.seed, drop_last=True))
    augmenter = DeviceAugmenter(train_set, device, threads=max(1, cfg.workers)) if cfg.augment_on_device else None
    # The loader's own seeded generator: creating its iterator must not draw from torch's global
    # generator, whose state a resume restores for dropout.
    loader = None if augmenter is not None else DataLoader(
        train_set, batch_size=cfg.batch_size, sampler=epoch_sampler, num_workers=cfg.workers, drop_last=True,
        pin_memory=device.type == "cuda", persistent_workers=cfg.workers > 0,
        generator=torch.Generator().manual_seed(cfg.seed * 100_003))
    last_save = last_plot = time.monotonic()
    # The rate of the last step taken: what an epoch's row reports even when a resume lands on its end.
    lr = learning_rate(cfg, max(0, state.global_step - 1), total_steps, steps_per_epoch)
    with StopRequests() as stop:
        def stop_here() -> None:  # last.pt at the step reached, then TrainingStopped
            _stop_here(save, last_path, training_state(), stop, state, run_dir)

        while state.epoch < cfg.epochs and (cfg.max_steps is None or state.global_step < cfg.max_steps):
            epoch_start = time.monotonic()
            images_at_start = state.epoch_images
            if _stop_agreed(stop, _stop_votes(stop, device), dist_info):  # told in validation or a checkpoint
                stop_here()
            epoch_sampler.start(state.epoch, skip=state.step_in_epoch * cfg.accum_steps * cfg.batch_size)
            try:
                batches = iter(loader) if augmenter is None else augmenter.batches(epoch_sampler, cfg.batch_size)
            except Exception:
                if stop.requested:  # a worker killed by the same signal (sent to the process group)
                    stop_here()
                raise
            trained.train()
            bar = tqdm(total=steps_per_epoch, initial=state.step_in_epoch, desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
                       disable=not (progress_bar and dist_info.is_main), unit="step", dynamic_ncols=True)
            while state.step_in_epoch < steps_per_epoch:
                if cfg.max_steps is not None and state.global_step >= cfg.max_steps:
                    break
                step_start = time.monotonic()
                lr = learning_rate(cfg, state.global_step, total_steps, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                try:
                    loss_value, stop_votes = _optimiser_step(cfg, trained, optimizer, batches, class_weights,
                                                             classes.ignore_index, device, dist_info, stop)
                except Exception:
                    # A stop signal sent to the process group (Ctrl-C, scancel, `timeout`) reaches the loader
                    # workers too: a batch lost that way is a stop, not a crash.
                    # The step failed before the weights changed, so last.pt is the previous step's state.
                    if stop.requested:
                        stop_here()
                    raise
                if ema is not None:
                    ema.update_parameters(model)
                state.step_in_epoch += 1
                state.global_step += 1
                step_images = cfg.batch_size * cfg.accum_steps * dist_info.world_size
                state.epoch_loss_sum += loss_value
                state.epoch_images += step_images
                bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{step_images / (time.monotonic() - step_start):.2f}")
                bar.update(1)
                if _stop_agreed(stop, stop_votes, dist_info):
                    stop_here()
                if time.monotonic() - last_save > cfg.checkpoint_minutes * 60:
                    save(last_path, training_state())
                    last_save = time.monotonic()
            bar.close()
            if state.step_in_epoch < steps_per_epoch:  # stopped by max_steps inside the epoch
                save(last_path, training_state())
                break
            epoch_seconds = time.monotonic() - epoch_start
            images_seen_now = state.epoch_images - images_at_start  # this process's share of the epoch, for speed
            row: dict[str, Any] = {"epoch": state.epoch + 1, "step": state.global_step, "lr": f"{lr:.6g}",
                                   "train_loss": f"{state.epoch_loss_sum / max(1, state.step_in_epoch):.5f}",
                                   "images_per_s": f"{images_seen_now / epoch_seconds:.3f}",
                                   "epoch_seconds": f"{epoch_seconds:.1f}"}
            is_last_epoch = state.epoch + 1 == cfg.epochs
            improved = False
            if val_set is not None and ((state.epoch + 1) % cfg.val_every == 0 or is_last_epoch):
                if dist_info.is_main:
                    collector = SampleCollector(sample_indices, IMAGENET_MEAN, IMAGENET_STD)
                    result = evaluate_model(scored, val_set, cfg.size, device, cfg.amp, cfg.channels_last,
                                            compute_bf=False, progress=progress_bar, on_prediction=collector)
                    if collector.samples:
                        panel = write_panel([row for _, row in collector.rows(classes)],
                                            run_dir / "samples" / f"epoch_{state.epoch + 1:04d}.png", scale=0.5)
                        if board is not None:
                            board.samples(np.asarray(Image.open(panel)), state.global_step)
                    row.update(val_global_accuracy=f"{result['global_accuracy']:.3f}",
                               val_class_accuracy=f"{result['class_accuracy']:.3f}", val_miou=f"{result['miou']:.3f}")
                    improved = result["miou"] > state.best_miou
                    state.best_miou = max(state.best_miou, result["miou"])
                    print(f"epoch {state.epoch + 1}: loss {row['train_loss']}  val G {result['global_accuracy']:.2f}"
                          f"  C {result['class_accuracy']:.2f}  mIoU {result['miou']:.2f}", flush=True)
                barrier()
            state.epoch += 1
            state.step_in_epoch = 0
            state.epoch_loss_sum, state.epoch_images = 0.0, 0
            if dist_info.is_main:
                _write_metrics_row(run_dir / "metrics.csv", row, keep_below=state.epoch)
                # Plotting costs about 0.1 s: a fraction of a CPU epoch, but a large one of a short GPU epoch.
                if "val_miou" in row or is_last_epoch or time.monotonic() - last_plot > 30:
                    plot_metrics(run_dir / "metrics.csv", run_dir)
                    last_plot = time.monotonic()
                if board is not None:
                    board.epoch(row, state.global_step)
                if improved or val_set is None:
                    save(run_dir / "best.pt", {"progress": vars(state).copy()}, scored)
                if ema is not None:
                    save(run_dir / "ema.pt", {"progress": vars(state).copy(), "ema_decay": cfg.ema_decay}, ema.module)
            save(last_path, training_state())
            last_save = time.monotonic()
    if board is not None:
        board.close()
    barrier()
    return run_dir


def _stop_votes(stop: StopRequests, device: torch.device) -> float:
    """How many ranks were told to stop (1 or 0 without torchrun); a step carries this in its loss reduction."""
    return all_reduce_sum(torch.tensor(float(stop.requested), dtype=torch.float64, device=device)).item()


def _stop_agreed(stop: StopRequests, votes: float, dist_info: DistInfo) -> bool:
    """Whether to stop here; under torchrun every rank stops at the same step, the one all ranks voted at."""
    if not dist_info.enabled:
        return stop.requested  # read now: a signal since the vote stops this step, not the next
    if votes > 0 and not stop.requested:
        stop.signal_number = int(signal.SIGTERM)  # another rank was told; stop with it
    return votes > 0


def _stop_here(save, last_path: Path, fields: dict[str, Any], stop: StopRequests, state: Progress,
               run_dir: Path) -> None:
    """Write last.pt at the step reached and leave with the signal's exit status."""
    save(last_path, fields)
    barrier()
    raise TrainingStopped(f"stopped by {stop.signal_name} at epoch {state.epoch + 1}, step {state.global_step}; "
                          f"{last_path} holds this step: continue with segnet train --run-dir {run_dir} --resume",
                          stop.signal_number or int(signal.SIGTERM))


def _optimiser_step(cfg, model, optimizer, batches, class_weights, ignore_index, device, dist_info: DistInfo,
                    stop: StopRequests) -> tuple[float, float]:
    """One optimiser step over ``accum_steps`` micro-batches; returns the step's mean loss and stop votes.

    Under torchrun a step reduces across ranks twice (its normalisers before the forward passes, its
    loss and stop vote after the update) and waits for the device once.
    """
    # The batches go to the device first, so that the loss normaliser is computed there (on a GPU
    # the host is the bottleneck) and the step waits for the device only once, at the end.
    micro = [(images.to(device, non_blocking=True), target.to(device, non_blocking=True))
             for images, target in (next(batches) for _ in range(cfg.accum_steps))]
    # Normalise by the global batch's labelled weight, so DDP/accumulation equal one big batch.
    normalizer = sum(loss_normalizer(target, class_weights, ignore_index) for _, target in micro)
    images_in_step = sum(target.shape[0] for _, target in micro)  # the Lovász term is a mean over images
    global_counts = all_reduce_sum(torch.stack([torch.as_tensor(normalizer, dtype=torch.float64, device=device),
                                                torch.tensor(float(images_in_step), dtype=torch.float64,
                                                             device=device)]))
    normalizer, image_count = global_counts[0].clamp_min(1.0), global_counts[1]
    optimizer.zero_grad(set_to_none=True)
    loss_total = torch.zeros((), dtype=torch.float64, device=device)
    for position, (images, target) in enumerate(micro):
        if cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        sync_now = position == len(micro) - 1
        context = model.no_sync() if (dist_info.enabled and not sync_now) else nullcontext()
        with context:
            with autocast_context(device, cfg.amp):
                logits = model(images)
            loss_sum = summed_cross_entropy(logits, target, class_weights, ignore_index)
            loss = loss_sum / normalizer
            if cfg.lovasz_weight:
                loss = loss + cfg.lovasz_weight * summed_lovasz_softmax(logits, target, ignore_index) / image_count
            (loss * dist_info.world_size).backward()
        loss_total += loss.detach().double()
    optimizer.step()
    stop_vote = torch.tensor(float(stop.requested), dtype=torch.float64, device=device)
    value, votes = all_reduce_sum(torch.stack([loss_total, stop_vote])).tolist()
    if not math.isfinite(value):
        raise FloatingPointError(f"training loss became {value} at lr {optimizer.param_groups[0]['lr']:.3g}; "
                                 "lower --lr or check the labels")
    return value, votes


def _load_initial_weights(path: Path, model: nn.Module, cfg: TrainConfig, num_classes: int) -> dict | None:
    """``--init-weights``: another run's weights as the starting point (its optimiser state is not used).
    Returns the checkpoint's class-prior shift record (``segnet shift-prior``), if it has one."""
    data = read_checkpoint(path)
    if data["model"]["name"] != cfg.model or data["model"]["num_classes"] != num_classes:
        raise CheckpointError(f"{path}: holds model '{data['model']['name']}' with {data['model']['num_classes']} "
                              f"classes, this run trains '{cfg.model}' with {num_classes}")
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit model '{cfg.model}' ({str(error).splitlines()[0]})") from None
    return data.get("prior_shift")


def _resume(path: Path, model: nn.Module, optimizer, cfg: TrainConfig, classes, ema: AveragedModel | None) -> Progress:
    data = read_checkpoint(path)
    if data["model"]["name"] != cfg.model or data["model"]["num_classes"] != classes.num_classes:
        raise CheckpointError(f"{path}: holds model '{data['model']['name']}' with {data['model']['num_classes']} "
                              f"classes, this run trains '{cfg.model}' with {classes.num_classes}")
    if "optimizer" not in data:
        raise CheckpointError(f"{path}: has no training state to resume from")
    model.load_state_dict(data["state_dict"])
    optimizer.load_state_dict(data["optimizer"])
    if ema is not None:
        if "ema" not in data:
            raise CheckpointError(f"{path}: was trained without --ema-decay, so it has no weight average to "
                                  "resume; start a new run with --init-weights instead")
        ema.load_state_dict(data["ema"])
    _set_rng_state(data["rng"])
    return Progress(**data["progress"])
