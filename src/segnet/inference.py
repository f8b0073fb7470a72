"""Running a trained model: logits at a working size, and the `Segmenter` API for users."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from .checkpoint import LoadedModel
from .data.io import IMAGE_EXTENSIONS, as_rgb8, read_rgb
from .devices import resolve_device
from .models import mc_dropout_predict
from .backends import check_exported_device, load_any, prepare_for_inference
from .optimize import resolve_precision
from .results import Result, blend
from .sources import collect_sources
from .refine import crf_prior_adjustment, refine_logits, resolve_refine, rgb_from_normalised
from .tta import DEFAULT_TTA, resolve_tta, tta_sizes
from .weights import resolve_weights


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
    ``tta="multiscale"`` does the same at each of :data:`segnet.tta.TTA_SCALES` times ``size`` and averages
    all ten logits at the images' size: about 11.3 times the compute of one pass
    (``multiscale:0.5,1`` runs the scales given).
    """
    height, width = images.shape[-2:]
    total = None
    sizes = tta_sizes(size if size is not None else (height, width), tta)
    for run_size in sizes:
        logits = _one_pass(model, images, run_size, amp, channels_last, mirror=tta != "none")
        if logits.shape[-2:] != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        total = logits if total is None else total + logits
    return total if len(sizes) == 1 else total / len(sizes)


def _one_pass(model: nn.Module, images: Tensor, size: tuple[int, int], amp: str | None, channels_last: bool,
              mirror: bool) -> Tensor:
    """Float32 logits of the model run at ``size``; with ``mirror``, averaged with the mirrored pass."""
    x = images
    if tuple(size) != tuple(images.shape[-2:]):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    parameter = next(model.parameters(), None)
    if parameter is not None and parameter.dtype != x.dtype:
        x = x.to(parameter.dtype)  # a model prepared in bf16 takes bf16 input
    if mirror:
        x = torch.cat([x, x.flip(-1)])
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast_context(x.device, amp):
        logits = model(x)
    logits = logits.float()
    if mirror:
        direct, mirrored = logits.chunk(2)
        logits = (direct + mirrored.flip(-1)) / 2
    return logits


ImageInput = Union[str, Path, Image.Image, np.ndarray, Tensor]


def image_to_tensor(image: "Image.Image | np.ndarray", mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """A PIL image or HxWx3 array (uint8, or float in [0, 1]) -> normalised float32 3xHxW tensor."""
    array = rgb_array(image)
    array = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (tensor - mean_t) / std_t


def rgb_array(image: "Image.Image | np.ndarray | Tensor") -> np.ndarray:
    """HxWx3 RGB array, uint8 or float32 in [0, 1], from a PIL image, an array (HxW, HxWx3/4) or a
    tensor (3xHxW or HxW; uint8, or float in [0, 1] as torchvision's ``to_tensor`` gives)."""
    if isinstance(image, Image.Image):
        return np.asarray(as_rgb8(image))
    if isinstance(image, Tensor):
        tensor = image.detach().cpu()
        if tensor.ndim == 3 and tensor.shape[0] in (1, 3, 4) and tensor.shape[-1] not in (3, 4):
            tensor = tensor.permute(1, 2, 0)  # CxHxW -> HxWxC
        image = tensor.float().numpy() if tensor.dtype in (torch.bfloat16, torch.float16) else tensor.numpy()
    array = np.asarray(image)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        array = np.repeat(array.reshape(array.shape[0], array.shape[1], 1), 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 RGB image (or a 3xHxW tensor), got shape {array.shape}")
    array = array[..., :3]
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"image values of type {array.dtype} are not pixel values; give uint8 or float in [0, 1]")
    if np.issubdtype(array.dtype, np.floating):
        if array.size and (float(np.nanmin(array)) < 0.0 or float(np.nanmax(array)) > 1.0 + 1e-3):
            raise ValueError(f"float image values span [{float(np.nanmin(array)):.3g}, {float(np.nanmax(array)):.3g}]; "
                             "give floats in [0, 1] (divide 0..255 values by 255) or uint8")
        return array.astype(np.float32)
    if array.size and (int(array.min()) < 0 or int(array.max()) > 255):
        raise ValueError(f"integer image values span [{int(array.min())}, {int(array.max())}]; give 0..255 (uint8)")
    return array.astype(np.uint8)


def as_uint8(array: np.ndarray) -> np.ndarray:
    return array if array.dtype == np.uint8 else np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)


def _expand(source: "ImageInput | Sequence[ImageInput]") -> tuple[list[tuple[object, Path | None]], bool, bool]:
    """(items as (image or path, path), single input?, from a folder or glob?) for ``Segmenter.predict``."""
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        sources = collect_sources(path)
        if sources.video is not None:
            raise ValueError(f"{path}: a video; use segnet.predict.predict_video or `segnet predict` for videos")
        single = path.is_file()
        return [(p, p) for p in sources.images], single, not single
    if isinstance(source, (Image.Image,)):
        return [(source, None)], True, False
    if isinstance(source, (np.ndarray, Tensor)):
        if source.ndim == 4:  # a batch: NxHxWx3 arrays, Nx3xHxW tensors
            return [(item, None) for item in source], False, False
        return [(source, None)], True, False
    if isinstance(source, Sequence):
        items: list[tuple[object, Path | None]] = []
        for entry in source:
            expanded, _, _ = _expand(entry)
            items.extend(expanded)
        return items, False, False
    raise TypeError(f"cannot segment a {type(source).__name__}; give a path, folder, glob, PIL image, "
                    "numpy array, torch tensor, or a list of those")


class Segmenter:
    """A trained model ready to label images: ``segnet.load("camvid").predict("road.png")``.

    Images of any size are resized to the model's working size and the labels come back at the
    image's own size.
    """

    def __init__(self, loaded: LoadedModel, device: str | torch.device = "cpu",
                 size: tuple[int, int] | None = None, amp: str = "none",
                 precision: str = "auto", optimize: bool = True, tta: str = DEFAULT_TTA,
                 refine: str = "auto") -> None:
        self.tta = resolve_tta(tta, loaded.fixed_size, loaded.path)
        self.refine = resolve_refine(refine, self.tta)
        if amp not in (None, "", "none", "fp32"):  # autocast belongs to a float32 model only
            if precision == "auto":
                precision, amp = "bf16", "none"  # the prepared bf16 model is the faster way to the same
            elif precision != "fp32":
                raise ValueError(f"amp '{amp}' autocasts a float32 model and cannot combine with precision "
                                 f"{precision}; use precision bf16 (--precision bf16) alone")
        self.device = resolve_device(device)
        self.backend = loaded.backend
        exported = loaded.exported_precision is not None  # .onnx, .xml, and .pt2 (which runs in torch)
        if exported:  # an exported file runs as it was exported, on the CPU
            if precision not in ("auto", loaded.exported_precision):
                raise ValueError(f"{loaded.path}: an exported {loaded.exported_precision} model cannot run in "
                                 f"precision {precision}; export it again with that precision")
            check_exported_device(loaded.path, self.device)
            optimize = False
        # What actually runs: auto resolved to int8, bf16 or fp32 for this machine and checkpoint.
        if exported:
            self.precision = loaded.exported_precision
        elif optimize:
            self.precision = resolve_precision(precision, self.device, loaded.int8_ranges is not None)
        else:
            self.precision = "fp32"
        if optimize:  # BatchNorm folded, channels-last, bf16 or int8 if asked (segnet.optimize, segnet.quantize)
            self.model = prepare_for_inference(loaded.model, self.precision, channels_last=True, device=self.device,
                                               int8_ranges=loaded.int8_ranges)
        else:
            self.model = loaded.model.to(self.device).eval()
        self.spec = loaded.spec
        self.classes = loaded.classes
        self.mean, self.std = loaded.mean, loaded.std
        self._prior_adjustment = crf_prior_adjustment(loaded.prior_offsets)
        self.size = size if size is not None else loaded.size
        self.amp = amp
        self.weights_path = loaded.path
        if self.size is not None:
            self._check_working_size()

    def __repr__(self) -> str:
        size = f"{self.size[0]}x{self.size[1]}" if self.size is not None else "native"
        backend = f", backend={self.backend}" if self.backend != "torch" else ""
        return (f"Segmenter(model={self.spec.name}, classes={self.classes.name} ({self.classes.num_classes}), "
                f"size={size}, precision={self.precision}{backend}, tta={self.tta}, refine={self.refine}, "
                f"device={self.device}, "
                f"weights='{self.weights_path}')")

    @torch.no_grad()
    def _check_working_size(self) -> None:
        """A dry run at each size the model will run at (the working size; for multiscale, its scaled
        copies too), so a size the model cannot take fails at load, not per image."""
        height, width = self.size
        if height < 1 or width < 1:
            raise ValueError(f"working size {height}x{width} is not a positive size")
        for run_height, run_width in tta_sizes((height, width), self.tta):
            probe = torch.zeros(1, self.spec.in_channels, run_height, run_width, device=self.device)
            try:
                logits_at_size(self.model, probe, None, self.amp)
            except ValueError as error:
                scaled = "" if (run_height, run_width) == (height, width) else (
                    f" (multiscale test-time augmentation runs it at {run_height}x{run_width}; use --tta flip)")
                raise ValueError(f"working size {height}x{width}{scaled}: {str(error).splitlines()[0]}") from None

    @classmethod
    def load(cls, weights: str | Path | None = None, device: str | torch.device = "cpu",
             size: tuple[int, int] | None = None, amp: str = "none",
             precision: str = "auto", optimize: bool = True, tta: str = DEFAULT_TTA,
             backend: str | None = None, refine: str = "auto") -> "Segmenter":
        """Load a checkpoint from ``segnet train``, a known name (``camvid``) or the shipped model (None),
        or a file from ``segnet export`` (.onnx, .xml, .pt2) in its runtime (``backend`` overrides)."""
        resolved = resolve_device(device)
        loaded = load_any(resolve_weights(weights), backend, resolved)
        return cls(loaded, resolved, size, amp, precision, optimize, tta, refine)

    @torch.no_grad()
    def logits(self, batch: Tensor) -> Tensor:
        """Float32 logits (N, K, H, W) for a normalised batch at the batch's own size (with ``refine``
        "crf", the dense CRF's log-marginals, which argmax and softmax read the same way)."""
        height, width = batch.shape[-2:]
        batch = batch.to(self.device)
        try:
            logits = logits_at_size(self.model, batch, self.size, self.amp, tta=self.tta)
        except (RuntimeError, ValueError) as error:
            if self.size is None:  # native size: the image itself may be too small for the model's pooling
                reason = str(error).splitlines()[0]
                needs = reason[reason.index("needs"):] if "needs" in reason else reason
                raise ValueError(f"a {height}x{width} image is too small for model '{self.spec.name}' at its "
                                 f"own size ({needs}); give a working size") from None
            raise
        if self.refine == "none":
            return logits
        return refine_logits(logits, rgb_from_normalised(batch, self.mean, self.std), self.refine,
                             prior_adjustment=self._prior_adjustment)

    def label(self, image: "Image.Image | np.ndarray | Tensor") -> np.ndarray:
        """HxW uint8 class indices of one in-memory image, at the image's size."""
        logits = self.logits(image_to_tensor(image, self.mean, self.std)[None])[0]
        return logits.argmax(0).to(torch.uint8).cpu().numpy()

    def predict(self, source: "ImageInput | Sequence[ImageInput]", return_probs: bool = False,
                batch_size: int = 1, stream: bool = False) -> "Result | list[Result] | Iterator[Result]":
        """Segment ``source``; one :class:`Result` for one image, a list for several.

        ``source``: an image path, a folder, a glob pattern (``"photos/*.jpg"``), a PIL image, an
        HxWx3 array, a 3xHxW tensor (float in [0, 1] or uint8), a batch (NxHxWx3 array, Nx3xHxW
        tensor) or a list of any of these. Files in a folder or glob that are not readable images,
        or are too small for the model, are skipped with a warning. ``stream=True`` gives a
        generator instead of a list (one image in memory at a time).
        """
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        items, single, from_files = _expand(source)
        results = self._results(items, return_probs, batch_size, skip_bad=from_files)
        if stream:
            return results
        collected = list(results)
        if single:
            return collected[0]
        return collected

    __call__ = predict

    def _results(self, items: list[tuple[object, Path | None]], return_probs: bool, batch_size: int,
                 skip_bad: bool) -> Iterator[Result]:
        for first in range(0, len(items), batch_size):
            chunk = []
            for image, path in items[first:first + batch_size]:
                if isinstance(image, Path) and image.suffix.lower() not in IMAGE_EXTENSIONS:
                    if not skip_bad:
                        raise ValueError(f"{image}: not an image file (expected {', '.join(IMAGE_EXTENSIONS)})")
                    warnings.warn(f"skipping {path}: not an image file (extension '{image.suffix}')", stacklevel=3)
                    continue
                try:
                    array = rgb_array(read_rgb(image) if isinstance(image, Path) else image)
                except ValueError as error:
                    if not skip_bad:
                        raise
                    warnings.warn(f"skipping {path}: {str(error).removeprefix(f'{path}: ')}", stacklevel=3)
                    continue
                chunk.append((array, path))
            for (array, path), outcome in zip(chunk, self.run_arrays([a for a, _ in chunk], return_probs, skip_bad)):
                if isinstance(outcome, str):
                    warnings.warn(f"skipping {path}: {outcome}", stacklevel=3)
                    continue
                labels, probs, ms = outcome
                yield Result(labels, as_uint8(array), self.classes, probs, path, ms)

    def run_arrays(self, arrays: list[np.ndarray], return_probs: bool = False, skip_bad: bool = False) -> list:
        """Per RGB array (labels, probs or None, ms), same-size images sharing a call; with ``skip_bad``
        an image the model cannot take (too small at its native size) gets the reason as a string."""
        outcomes: list = [None] * len(arrays)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, array in enumerate(arrays):
            by_size.setdefault(tuple(array.shape[:2]), []).append(i)
        for indices in by_size.values():
            batch = torch.stack([image_to_tensor(arrays[i], self.mean, self.std) for i in indices])
            tick = time.perf_counter()
            try:
                logits = self.logits(batch)
            except ValueError as error:
                if not skip_bad:
                    raise
                for i in indices:
                    outcomes[i] = str(error)
                continue
            labels = logits.argmax(1).to(torch.uint8).cpu().numpy()
            probs = torch.softmax(logits, 1).cpu().numpy() if return_probs else None
            ms = 1000.0 * (time.perf_counter() - tick) / len(indices)
            for k, i in enumerate(indices):
                outcomes[i] = (labels[k], probs[k] if probs is not None else None, ms)
        return outcomes

    def predict_batch(self, images: Sequence["Image.Image | np.ndarray | Tensor"], return_probs: bool = False) -> list:
        """Label maps (HxW uint8) for in-memory images, same-size ones run as one batch; with
        ``return_probs`` a (labels, K x H x W probabilities) pair per image."""
        outcomes = self.run_arrays([rgb_array(image) for image in images], return_probs, skip_bad=False)
        return [(labels, probs) if return_probs else labels for labels, probs, _ in outcomes]

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
        return blend(as_uint8(rgb_array(image)), self.colorize(np.asarray(labels)), alpha)


def load(weights: str | Path | None = None, device: str | torch.device = "cpu",
         size: tuple[int, int] | None = None, amp: str = "none",
         precision: str = "auto", optimize: bool = True, tta: str = DEFAULT_TTA,
         backend: str | None = None, refine: str = "auto") -> Segmenter:
    """``segnet.load()``: the shipped CamVid model; ``weights`` may be a checkpoint path or a known name
    (``"camvid"``; ``segnet models`` lists them). ``device``: cpu, cuda, cuda:N or auto.

    ``precision``: fp32, bf16, int8 (CPU; needs a checkpoint calibrated by ``segnet quantize``, as
    the shipped one is), or auto: int8 where calibrated, on an x86 CPU (7-bit weights without
    VNNI), else bf16 where the CPU/GPU runs it natively, else fp32. ``tta``: "multiscale" averages the image and its mirror
    at 0.5, 0.75, 1, 1.25 and 1.5 times the working size (11.3 times the compute; "multiscale:0.5,1"
    runs the scales given), "flip" the image and its
    mirror (twice), "none" runs the image once; "auto" is multiscale, or flip for a static export
    (see docs/inference.md). A file from ``segnet export``
    (.onnx, OpenVINO .xml, .pt2) runs in ONNX Runtime, OpenVINO or torch; ``backend`` picks another
    (an .onnx file also runs in "openvino"). ``refine``: "crf" sharpens the labels along the image's
    edges with a dense CRF on the logits (``segnet.refine``; 0.2 s per 360x480 image on 2 cores), "none"
    leaves them, "auto" is crf with flip or multiscale TTA and none with one pass.
    """
    return Segmenter.load(weights, device, size, amp, precision, optimize, tta, backend, refine)
