"""Labelling files on disk with a `Segmenter`: images to label/colour/overlay PNGs, video to video.

Outputs for an image ``<stem>.<ext>`` under ``out_dir``:

- ``labels/<stem>.png``: 8-bit class indices at the image's own size;
- ``color/<stem>.png``: the labels in the class palette (``ClassSet.colorize``);
- ``overlay/<stem>.png``: ``round((1 - alpha) * image + alpha * color)`` (``Segmenter.overlay``);
- ``uncertainty/<stem>.png`` (Bayesian models, ``samples`` > 0): the Monte Carlo dropout
  uncertainty as 8-bit ``round(255 * u / max(u))``, scaled to that image's maximum so that the
  most uncertain pixel is white; the maximum itself is in ``timings.csv`` (``uncertainty_max``)
  to undo the scaling. An image with no uncertainty at all is black.
- ``timings.csv``: per-image model time in ms (a batch's time is shared evenly by its images).

A video ``<stem>.<ext>`` gives ``<stem>_overlay.mp4`` (same frame rate and frame count) and
``video.json``. With ``every`` = N only every Nth frame is segmented and the frames between
reuse the latest labels, so the output keeps the source's length and frame rate.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from torch import nn
from tqdm import tqdm

from .data.io import IMAGE_EXTENSIONS, read_rgb
from .inference import Segmenter
from .video import VideoReader, VideoWriter, is_video

SkipHandler = Callable[[Path, str], None]
_DROPOUT_KINDS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


@dataclass
class PredictSummary:
    """Counts and times of one ``predict_images`` run."""

    images: int
    skipped: list[tuple[Path, str]]
    model_seconds: float  # summed model time of the written images
    wall_seconds: float  # whole run, reading and writing files included
    out_dir: Path

    @property
    def mean_ms(self) -> float:
        return 1000.0 * self.model_seconds / self.images if self.images else 0.0

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def line(self) -> str:
        skipped = f", skipped {len(self.skipped)}" if self.skipped else ""
        images = f"{self.images} image" + ("" if self.images == 1 else "s")
        return (f"{images}: {self.mean_ms:.1f} ms/image (model), "
                f"{self.images_per_s:.2f} images/s (with file I/O){skipped}")


@dataclass
class VideoSummary:
    """Counts and rates of one ``predict_video`` run (also written to ``video.json``)."""

    frames: int  # frames read and written
    segmented: int  # frames the model ran on (all of them unless every > 1)
    seconds: float  # wall time of decode + model + encode
    fps_processing: float  # frames / seconds
    fps_source: float
    output: str
    labels: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.frames} frames ({self.segmented} segmented) in {self.seconds:.2f} s: "
                f"{self.fps_processing:.2f} frames/s (source {self.fps_source:.2f} fps)")


def is_bayesian(segmenter: Segmenter) -> bool:
    """True when the model has dropout layers to sample (Bayesian SegNet)."""
    return any(isinstance(m, _DROPOUT_KINDS) for m in segmenter.model.modules())


def check_samples(segmenter: Segmenter, samples: int) -> None:
    if samples < 0:
        raise ValueError(f"samples must be 0 (off) or positive, got {samples}")
    if samples and not is_bayesian(segmenter):
        raise ValueError(
            f"{segmenter.weights_path}: model '{segmenter.spec.name}' has no dropout, so it has no Monte Carlo "
            "uncertainty; use a bayesian_* model or leave out --samples"
        )


def output_stems(paths: Sequence[Path]) -> list[str]:
    """A distinct output stem per input: the file's stem, and for repeats (a.png and a.jpg, or one
    name in two folders) the first free of stem-2, stem-3... that no other input uses as its own."""
    natural = {p.stem for p in paths}
    used: set[str] = set()
    stems = []
    for p in paths:
        stem, number = p.stem, 1
        while stem in used or (number > 1 and stem in natural):
            number += 1
            stem = f"{p.stem}-{number}"
        used.add(stem)
        stems.append(stem)
    return stems


def uncertainty_to_png(uncertainty: np.ndarray) -> np.ndarray:
    """8-bit map scaled to the image's maximum (see the module docstring)."""
    peak = float(uncertainty.max()) if uncertainty.size else 0.0
    if peak <= 0:
        return np.zeros(uncertainty.shape, dtype=np.uint8)
    return np.clip(np.round(uncertainty / peak * 255.0), 0, 255).astype(np.uint8)


def warn_skip(path: Path, reason: str) -> None:
    """Default skip handler: one warning line on stderr, above any progress bar."""
    tqdm.write(f"warning: skipping {path}: {reason}", file=sys.stderr)


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (share of the class colours in the overlay), got {alpha}")


def _save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _read_batch(paths: Sequence[Path], on_skip: SkipHandler) -> list[tuple[int, np.ndarray]]:
    """(position, RGB array) of the readable images among ``paths``; the rest go to ``on_skip``."""
    images = []
    for i, path in enumerate(paths):
        if is_video(path):
            on_skip(path, "a video; give it to segnet predict as SOURCE on its own")
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            on_skip(path, f"not an image file (extension '{path.suffix}'; expected {', '.join(IMAGE_EXTENSIONS)})")
            continue
        try:
            images.append((i, np.asarray(read_rgb(path))))
        except ValueError as error:  # DataError: truncated / not really an image
            on_skip(path, str(error).removeprefix(f"{path}: "))
    return images


def _label_batch(segmenter: Segmenter, batch: list[tuple[int, np.ndarray]], chunk: Sequence[Path],
                 skip: SkipHandler) -> tuple[list[tuple[int, np.ndarray]], list[np.ndarray]]:
    """Labels of a read batch; images the model cannot take (too small at their native size) are skipped."""
    kept, results = [], []
    for (i, image), outcome in zip(batch, segmenter.run_arrays([image for _, image in batch], skip_bad=True)):
        if isinstance(outcome, str):
            skip(chunk[i], outcome)
        else:
            kept.append((i, image))
            results.append(outcome[0])
    return kept, results


def predict_images(
    segmenter: Segmenter,
    paths: Sequence[str | Path],
    out_dir: str | Path,
    batch_size: int = 1,
    alpha: float = 0.5,
    samples: int = 0,
    progress: bool = True,
    on_skip: SkipHandler = warn_skip,
) -> PredictSummary:
    """Write label, colour and overlay PNGs (and uncertainty maps with ``samples``) for ``paths``.

    Unreadable or non-image files are passed to ``on_skip`` and left out; the run goes on.
    With ``samples`` the labels are the Monte Carlo mean's argmax, as in Bayesian SegNet, and each
    image runs alone (the sampling is per image).
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    _check_alpha(alpha)
    check_samples(segmenter, samples)
    out_dir = Path(out_dir)
    paths = [Path(p) for p in paths]
    stems = output_stems(paths)
    step = 1 if samples else batch_size
    rows: list[dict[str, object]] = []
    skipped: list[tuple[Path, str]] = []

    def skip(path: Path, reason: str) -> None:
        skipped.append((path, reason))
        on_skip(path, reason)

    start = time.perf_counter()
    model_seconds = 0.0
    with tqdm(total=len(paths), unit="image", disable=not progress, file=sys.stderr) as bar:
        for first in range(0, len(paths), step):
            chunk = paths[first:first + step]
            batch = _read_batch(chunk, skip)
            if batch:
                tick = time.perf_counter()
                if samples:
                    try:
                        labels, uncertainty = segmenter.predict_uncertainty(batch[0][1], samples)
                        results, uncertainties = [labels], [uncertainty]
                    except (RuntimeError, ValueError) as error:
                        if segmenter.size is not None:
                            raise
                        skip(chunk[batch[0][0]], f"too small for the model at its own size ({str(error).splitlines()[0]})")
                        batch, results, uncertainties = [], [], []
                else:
                    batch, results = _label_batch(segmenter, batch, chunk, skip)
                    uncertainties = []
                seconds = time.perf_counter() - tick
                model_seconds += seconds
                for k, ((i, image), labels) in enumerate(zip(batch, results)):
                    stem = stems[first + i]
                    _save_png(labels, out_dir / "labels" / f"{stem}.png")
                    _save_png(segmenter.colorize(labels), out_dir / "color" / f"{stem}.png")
                    _save_png(segmenter.overlay(image, labels, alpha), out_dir / "overlay" / f"{stem}.png")
                    row: dict[str, object] = {"image": str(chunk[i]), "output": stem, "height": image.shape[0],
                                              "width": image.shape[1], "ms": round(1000 * seconds / len(batch), 3)}
                    if samples:
                        _save_png(uncertainty_to_png(uncertainties[k]), out_dir / "uncertainty" / f"{stem}.png")
                        row["uncertainty_max"] = float(uncertainties[k].max())
                    rows.append(row)
            bar.update(len(chunk))
    _write_timings(out_dir / "timings.csv", rows, samples > 0)
    return PredictSummary(len(rows), skipped, model_seconds, time.perf_counter() - start, out_dir)


def _write_timings(path: Path, rows: list[dict[str, object]], with_uncertainty: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["image", "output", "height", "width", "ms"] + (["uncertainty_max"] if with_uncertainty else [])
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def predict_video(
    segmenter: Segmenter,
    path: str | Path,
    out_dir: str | Path,
    every: int = 1,
    batch_size: int = 1,
    alpha: float = 0.5,
    save_frames: bool = False,
    progress: bool = True,
) -> VideoSummary:
    """Write ``<stem>_overlay.mp4`` (H.264, the source's frame rate) and ``video.json`` under ``out_dir``.

    Every ``every``-th frame is segmented (frame 0 first); ``batch_size`` segmented frames run
    together. With ``save_frames`` the label PNGs go to ``labels/<stem>_<frame:06d>.png``.
    """
    if every < 1:
        raise ValueError(f"every must be at least 1 (segment every Nth frame), got {every}")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    _check_alpha(alpha)
    path, out_dir = Path(path), Path(out_dir)
    output = out_dir / f"{path.stem}_overlay.mp4"
    saved: list[str] = []
    pending: list[tuple[int, np.ndarray]] = []  # frames waiting for their batch's labels
    last_labels: np.ndarray | None = None
    segmented = 0

    start = time.perf_counter()
    with VideoReader(path) as reader, VideoWriter(output, reader.fps) as writer, \
            tqdm(total=reader.frame_count, unit="frame", disable=not progress, file=sys.stderr) as bar:

        def flush() -> None:
            nonlocal last_labels, segmented
            batch = [frame for index, frame in pending if index % every == 0]
            results = iter(segmenter.predict_batch(batch) if batch else [])
            for index, frame in pending:
                if index % every == 0:
                    last_labels = next(results)
                    segmented += 1
                    if save_frames:
                        name = out_dir / "labels" / f"{path.stem}_{index:06d}.png"
                        _save_png(last_labels, name)
                        saved.append(str(name))
                writer.write(segmenter.overlay(frame, last_labels, alpha))
                bar.update(1)
            pending.clear()

        for index, frame in enumerate(reader):
            pending.append((index, frame))
            waiting = sum(1 for i, _ in pending if i % every == 0)
            if waiting == batch_size or waiting == 0:  # waiting == 0: a skipped frame, labels known
                flush()
        flush()
        fps_source = float(reader.fps)
        frames = writer.frames
    seconds = time.perf_counter() - start
    if frames == 0:
        output.unlink(missing_ok=True)
        raise ValueError(f"{path}: the video has no frames to segment")
    summary = VideoSummary(frames, segmented, seconds, frames / seconds if seconds > 0 else 0.0,
                           fps_source, str(output), saved)
    info = {k: v for k, v in asdict(summary).items() if k != "labels"}
    (out_dir / "video.json").write_text(json.dumps(info, indent=2) + "\n")
    return summary
