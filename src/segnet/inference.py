"""Running a trained model: logits at a working size, and the `Segmenter` API for users."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from .checkpoint import LoadedModel, load_model
from .data.io import as_rgb8
from .models import mc_dropout_predict
from .optimize import prepare_for_inference, resolve_precision
from .weights import default_weights_path


TTA_MODES = ("none", "flip")
DEFAULT_TTA = "flip"  # segnet.load and predict: +0.3-0.4 mIoU on an unseen drive for twice the compute (docs/recipe_study.md)


def autocast_context(device: torch.device, amp: str | None):
    """bf16 autocast when asked for; float32 otherwise."""
    if amp in (None, "", "none", "fp32"):
        return nullcontext()
    if amp != "bf16":
        raise ValueError(f"amp '{amp}' is not supported; use 'bf16' or 'none'")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def logits_at_size(
    model: nn.Module,
    images: Tensor,
    size: tuple[int, int] | None = None,
    amp: str | None = None,
    channels_last: bool = False,
    tta: str = "none",
) -> Tensor:
    """Float32 logits at the images' own size, the model running at ``size`` (HxW) if given.

    Images are resized (bilinear, antialiased) to ``size`` and the logits brought back bilinearly,
    so labels are always predicted at the resolution they are scored at. ``tta="flip"`` also runs
    the mirrored images (in the same batch) and averages the two logits: twice the compute.
    """
    if tta not in TTA_MODES:
        raise ValueError(f"test-time augmentation '{tta}' is not one of {', '.join(TTA_MODES)}")
    height, width = images.shape[-2:]
    x = images
    if size is not None and tuple(size) != (height, width):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.dtype != x.dtype:
        x = x.to(parameter.dtype)  # a model prepared in bf16 takes bf16 input
    if tta == "flip":
        x = torch.cat([x, x.flip(-1)])
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast_context(x.device, amp):
        logits = model(x)
    logits = logits.float()
    if tta == "flip":
        direct, mirrored = logits.chunk(2)
        logits = (direct + mirrored.flip(-1)) / 2
    if logits.shape[-2:] != (height, width):
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
    return logits


def image_to_tensor(image: "Image.Image | np.ndarray", mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """A PIL image or HxWx3 array (uint8, or float in [0, 1]) -> normalised float32 3xHxW tensor."""
    if isinstance(image, Image.Image):
        array = np.asarray(as_rgb8(image), dtype=np.float32) / 255.0
    else:
        array = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ValueError(f"expected an HxWx3 RGB image array, got shape {array.shape}")
        array = array[..., :3]
        array = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (tensor - mean_t) / std_t


class Segmenter:
    """A trained model ready to label images: ``segnet.load().predict(image)``.

    Images of any size are resized to the model's working size and the labels come back at the
    image's own size.
    """

    def __init__(self, loaded: LoadedModel, device: str | torch.device = "cpu",
                 size: tuple[int, int] | None = None, amp: str = "none",
                 precision: str = "auto", optimize: bool = True, tta: str = DEFAULT_TTA) -> None:
        if tta not in TTA_MODES:
            raise ValueError(f"test-time augmentation '{tta}' is not one of {', '.join(TTA_MODES)}")
        self.tta = tta
        if amp not in (None, "", "none", "fp32"):  # autocast belongs to a float32 model only
            if precision == "auto":
                precision, amp = "bf16", "none"  # the prepared bf16 model is the faster way to the same
            elif precision != "fp32":
                raise ValueError(f"amp '{amp}' autocasts a float32 model and cannot combine with precision "
                                 f"{precision}; use precision bf16 (--precision bf16) alone")
        self.device = torch.device(device)
        # What actually runs: auto resolved to int8, bf16 or fp32 for this machine and checkpoint.
        self.precision = (resolve_precision(precision, self.device, loaded.int8_ranges is not None)
                          if optimize else "fp32")
        if optimize:  # BatchNorm folded, channels-last, bf16 or int8 if asked (segnet.optimize, segnet.quantize)
            self.model = prepare_for_inference(loaded.model, self.precision, channels_last=True, device=self.device,
                                               int8_ranges=loaded.int8_ranges)
        else:
            self.model = loaded.model.to(self.device).eval()
        self.spec = loaded.spec
        self.classes = loaded.classes
        self.mean, self.std = loaded.mean, loaded.std
        self.size = size if size is not None else loaded.size
        self.amp = amp
        self.weights_path = loaded.path
        if self.size is not None:
            self._check_working_size()

    @torch.no_grad()
    def _check_working_size(self) -> None:
        """One dry run at the working size, so a size the model cannot take fails at load, not per image."""
        height, width = self.size
        if height < 1 or width < 1:
            raise ValueError(f"working size {height}x{width} is not a positive size")
        probe = torch.zeros(1, self.spec.in_channels, height, width, device=self.device)
        try:
            logits_at_size(self.model, probe, None, self.amp)
        except ValueError as error:
            raise ValueError(f"working size {height}x{width}: {str(error).splitlines()[0]}") from None

    @classmethod
    def load(cls, weights: str | Path | None = None, device: str | torch.device = "cpu",
             size: tuple[int, int] | None = None, amp: str = "none",
             precision: str = "auto", optimize: bool = True, tta: str = DEFAULT_TTA) -> "Segmenter":
        """Load a checkpoint from ``segnet train``, or the shipped CamVid model when None."""
        path = default_weights_path() if weights is None else Path(weights)
        return cls(load_model(path, map_location=device), device, size, amp, precision, optimize, tta)

    @torch.no_grad()
    def logits(self, batch: Tensor) -> Tensor:
        """Float32 logits (N, K, H, W) for a normalised batch at the batch's own size."""
        return logits_at_size(self.model, batch.to(self.device), self.size, self.amp, tta=self.tta)

    def predict(self, image: "Image.Image | np.ndarray", return_probs: bool = False):
        """Label map (HxW uint8 class indices); with ``return_probs`` also (K, H, W) float32 probabilities."""
        logits = self.logits(image_to_tensor(image, self.mean, self.std)[None])[0]
        labels = logits.argmax(0).to(torch.uint8).cpu().numpy()
        if return_probs:
            return labels, torch.softmax(logits, 0).cpu().numpy()
        return labels

    def predict_batch(self, images: Sequence["Image.Image | np.ndarray"]) -> list[np.ndarray]:
        """Label maps for several images; same-size images run as one batch."""
        tensors = [image_to_tensor(image, self.mean, self.std) for image in images]
        results: list[np.ndarray | None] = [None] * len(tensors)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, t in enumerate(tensors):
            by_size.setdefault(tuple(t.shape[-2:]), []).append(i)
        for indices in by_size.values():
            labels = self.logits(torch.stack([tensors[i] for i in indices])).argmax(1).to(torch.uint8).cpu()
            for i, label in zip(indices, labels):
                results[i] = label.numpy()
        return results  # type: ignore[return-value]

    @torch.no_grad()
    def predict_uncertainty(self, image: "Image.Image | np.ndarray", samples: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Bayesian models: (labels HxW uint8, uncertainty HxW float32) from Monte Carlo dropout."""
        if self.precision == "int8":
            raise ValueError("Monte Carlo dropout needs the float model; load it with precision 'fp32' or 'bf16'")
        x = image_to_tensor(image, self.mean, self.std)[None].to(self.device)
        height, width = x.shape[-2:]
        if self.size is not None and tuple(self.size) != (height, width):
            x = F.interpolate(x, size=tuple(self.size), mode="bilinear", align_corners=False, antialias=True)
        parameter = next(self.model.parameters(), None)
        if parameter is not None:  # a model prepared in bf16 takes bf16 input
            x = x.to(parameter.dtype).contiguous(memory_format=torch.channels_last)
        mean, uncertainty = mc_dropout_predict(self.model, x, samples)
        if mean.shape[-2:] != (height, width):
            mean = F.interpolate(mean, size=(height, width), mode="bilinear", align_corners=False)
            uncertainty = F.interpolate(uncertainty[None], size=(height, width), mode="bilinear",
                                        align_corners=False)[0]
        return mean[0].argmax(0).to(torch.uint8).cpu().numpy(), uncertainty[0].cpu().numpy()

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 colours of the class palette."""
        return self.classes.colorize(labels)

    def overlay(self, image: "Image.Image | np.ndarray", labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
        """The colour labels blended over the image (alpha = share of the colours)."""
        base = np.asarray(as_rgb8(image) if isinstance(image, Image.Image) else image)[..., :3]
        blended = (1 - alpha) * base.astype(np.float32) + alpha * self.colorize(labels).astype(np.float32)
        return blended.round().clip(0, 255).astype(np.uint8)


def load(weights: str | Path | None = None, device: str | torch.device = "cpu",
         size: tuple[int, int] | None = None, amp: str = "none",
         precision: str = "auto", optimize: bool = True, tta: str = DEFAULT_TTA) -> Segmenter:
    """``segnet.load()``: the shipped CamVid model, or a checkpoint path.

    ``precision``: fp32, bf16, int8 (CPU; needs a checkpoint calibrated by ``segnet quantize``, as
    the shipped one is), or auto: int8 where calibrated and the CPU has VNNI, else bf16 where the
    CPU/GPU runs it natively, else fp32. ``tta``: "flip" averages the image and its mirror (twice
    the compute, see docs/inference.md), "none" runs the image once.
    """
    return Segmenter.load(weights, device, size, amp, precision, optimize, tta)
