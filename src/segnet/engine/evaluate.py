"""Evaluation as in the paper: G, C and mIoU from one confusion matrix, plus boundary F1."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..data import ClassSet, SegmentationDataset, frame_sequence
from ..inference import logits_at_size
from ..metrics import BoundaryF1Meter, ConfusionMatrix
from ..refine import refine_logits, rgb_from_normalised


def _labelled(result: dict[str, Any], classes: ClassSet) -> dict[str, Any]:
    per_class = {}
    for name, values in zip(classes.names, result["per_class"]):
        per_class[name] = {"accuracy": values["accuracy"], "iou": values["iou"], "pixels": values["support"]}
    result = dict(result)
    result["per_class"] = per_class
    return result


class _Scores:
    """One confusion matrix and boundary-F1 meter per recording; the overall figures are their sum."""

    def __init__(self, dataset: SegmentationDataset, compute_bf: bool) -> None:
        self.classes = dataset.classes
        self.sequences = [frame_sequence(entry[0]) for entry in dataset.files]
        count, ignore = self.classes.num_classes, self.classes.ignore_index
        self.per_sequence = {
            name: (ConfusionMatrix(count, ignore), BoundaryF1Meter(count, ignore) if compute_bf else None)
            for name in dict.fromkeys(self.sequences)}
        self.compute_bf = compute_bf

    def add(self, index: int, prediction: Tensor, label: Tensor) -> None:
        confusion, boundary = self.per_sequence[self.sequences[index]]
        confusion.update(prediction[None], label[None])
        if boundary is not None:
            boundary.update(prediction[None].numpy(), label[None].numpy())

    def result(self) -> dict[str, Any]:
        count, ignore = self.classes.num_classes, self.classes.ignore_index
        confusion = ConfusionMatrix(count, ignore)
        boundary = BoundaryF1Meter(count, ignore) if self.compute_bf else None
        for seq_confusion, seq_boundary in self.per_sequence.values():  # each image was scored once
            confusion.matrix += seq_confusion.matrix.to(confusion.matrix.device)
            if boundary is not None:
                boundary.merge(seq_boundary)
        result = _labelled(confusion.compute(), self.classes)
        result["bf"] = boundary.compute() if boundary is not None else None
        if boundary is not None:
            for name, value in zip(self.classes.names, boundary.compute_per_class()):
                result["per_class"][name]["bf"] = float(value)
        result["confusion_matrix"] = confusion.matrix.cpu().tolist()  # rows: ground truth, columns: prediction
        result["num_images"] = len(self.sequences)
        if len(self.per_sequence) > 1:
            result["per_sequence"] = {}
            for name, (seq_confusion, seq_boundary) in self.per_sequence.items():
                figures = seq_confusion.compute()
                result["per_sequence"][name] = {
                    "global_accuracy": figures["global_accuracy"], "class_accuracy": figures["class_accuracy"],
                    "miou": figures["miou"], "bf": seq_boundary.compute() if seq_boundary is not None else None,
                    "num_images": self.sequences.count(name)}
        return result


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    dataset: SegmentationDataset,
    size: tuple[int, int] | None,
    device: torch.device,
    amp: str = "none",
    channels_last: bool = False,
    batch_size: int = 1,
    workers: int = 0,
    compute_bf: bool = True,
    save_predictions: str | Path | None = None,
    progress: bool = True,
    tta: str = "none",
    on_prediction: Callable[[int, Tensor, Tensor, Tensor], None] | None = None,
    refine: str = "none",
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
    prior_adjustment: Tensor | None = None,
) -> dict[str, Any]:
    """Score ``model`` on ``dataset`` at the labels' own resolution (metrics in percent).

    The dataset should keep native sizes (no resize in its transform): images are resized to
    ``size`` for the model and the logits brought back, as users will run it. ``per_sequence``
    holds the same figures for each recording (file-name prefix) when there are several.
    ``on_prediction(index, image, label, prediction)`` sees each image as it is scored. ``refine``
    "crf" refines the logits with a dense CRF against the images (``normalization``: their mean and std),
    after adding ``prior_adjustment`` (``segnet.refine.crf_prior_adjustment``) to them.
    """
    if refine != "none" and normalization is None:
        raise ValueError("refine needs the images' normalization (mean, std) to see their colours")
    scores = _Scores(dataset, compute_bf)
    out_dir = Path(save_predictions) if save_predictions else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    was_training = model.training
    model.eval()
    index = 0
    for images, labels in tqdm(loader, desc="evaluate", unit="batch", disable=not progress, leave=False):
        logits = logits_at_size(model, images.to(device), size, amp, channels_last, tta=tta)
        if refine != "none":
            logits = refine_logits(logits, rgb_from_normalised(images.to(device), *normalization), refine,
                                   prior_adjustment=prior_adjustment)
        pred = logits.argmax(1).cpu()
        for one_image, one_pred, one_label in zip(images, pred, labels):
            if on_prediction is not None:
                on_prediction(index, one_image, one_label, one_pred)
            scores.add(index, one_pred, one_label)
            if out_dir:
                stem = Path(dataset.files[index][0]).stem
                Image.fromarray(one_pred.numpy().astype(np.uint8)).save(out_dir / f"{stem}.png")
            index += 1
    model.train(was_training)
    return scores.result()


def prediction_folder(folder: str | Path) -> Path:
    """Where the label PNGs are: FOLDER itself, or FOLDER/labels (the layout `segnet predict` writes)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of predicted label PNGs")
    labels = folder / "labels"
    return labels if labels.is_dir() and not any(folder.glob("*.png")) else folder


def read_prediction(path: Path, label_shape: tuple[int, ...], num_classes: int) -> Tensor:
    """One predicted label PNG (class indices), checked against the ground truth it is scored on."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no prediction for this frame (`segnet predict` writes "
                                f"OUTPUT/labels/<stem>.png for every image)")
    with Image.open(path) as image:
        if image.mode not in ("L", "P"):
            raise ValueError(f"{path}: a {image.mode} image; predicted labels are one-channel PNGs of class indices")
        labels = np.asarray(image)
    if labels.shape != tuple(label_shape):
        raise ValueError(f"{path}: {labels.shape[1]}x{labels.shape[0]} px, its ground truth is "
                         f"{label_shape[1]}x{label_shape[0]}")
    if labels.max() >= num_classes:
        raise ValueError(f"{path}: holds class index {int(labels.max())}, the dataset has {num_classes} classes")
    return torch.from_numpy(labels.astype(np.int64))


def evaluate_predictions(
    dataset: SegmentationDataset,
    folder: str | Path,
    compute_bf: bool = True,
    progress: bool = True,
    on_prediction: Callable[[int, Tensor, Tensor, Tensor], None] | None = None,
    images_for: Collection[int] | None = None,
) -> dict[str, Any]:
    """Score saved label PNGs (``<stem>.png`` per frame, e.g. `segnet predict`'s) as evaluate_model would.

    No model runs: the figures are those of the files, so a prediction made once (by any path,
    with any test-time augmentation) is scored exactly as it was written. ``on_prediction`` sees
    the frames of ``images_for`` (all when None) with their images; the others are scored from
    their labels alone, without decoding an image nobody looks at.
    """
    folder = prediction_folder(folder)
    scores = _Scores(dataset, compute_bf)
    for index in tqdm(range(len(dataset)), desc="evaluate", unit="image", disable=not progress, leave=False):
        wanted = on_prediction is not None and (images_for is None or index in images_for)
        if wanted:
            image, label = dataset[index]
        else:
            label = torch.from_numpy(dataset.load_label(index).astype(np.int64))
        prediction = read_prediction(folder / f"{Path(dataset.files[index][0]).stem}.png", tuple(label.shape),
                                     dataset.classes.num_classes)
        if wanted:
            on_prediction(index, image, label, prediction)
        scores.add(index, prediction, label)
    return scores.result()


def format_report(result: dict[str, Any]) -> str:
    """The per-class table and the four headline figures, as printed by `segnet evaluate`."""
    lines = [f"{'class':<16}{'accuracy':>10}{'IoU':>8}{'BF':>8}{'pixels':>12}"]
    for name, values in result["per_class"].items():
        acc, iou, bf_class = values["accuracy"], values["iou"], values.get("bf")
        lines.append(f"{name:<16}{_pct(acc):>10}{_pct(iou):>8}{_pct(bf_class) if bf_class is not None else '-':>8}"
                     f"{values['pixels']:>12}")
    bf = result.get("bf")
    lines.append(
        f"G (global accuracy) {result['global_accuracy']:.2f}  C (class average) {result['class_accuracy']:.2f}"
        f"  mIoU {result['miou']:.2f}  BF {'n/a' if bf is None else f'{bf:.2f}'}"
        f"  ({result['num_images']} images)"
    )
    for name, figures in result.get("per_sequence", {}).items():
        bf = figures["bf"]
        lines.append(f"  sequence {name:<8} G {figures['global_accuracy']:.2f}  C {figures['class_accuracy']:.2f}"
                     f"  mIoU {figures['miou']:.2f}  BF {'n/a' if bf is None else f'{bf:.2f}'}"
                     f"  ({figures['num_images']} images)")
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"  # NaN: class absent
