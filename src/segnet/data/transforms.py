"""Joint, seeded transforms for an image, its label map and an optional aligned depth map.

A transform is a callable ``(sample: Sample, rng: numpy.random.Generator) -> Sample``. Every
random choice comes from ``rng``, which the datasets derive from ``(seed, epoch, index)``, so
augmentations are reproducible and independent of the number of loader workers.

Geometric transforms work on PIL images: the RGB image is resampled bilinearly, the label map
and the depth map with NEAREST (labels must stay in the label set; depth must not be blended
with the 0 = "no reading" pixels around holes). :class:`ToTensor` turns a sample into tensors
(image float32 ``3xHxW`` in [0, 1], label int64 ``HxW``, depth float32 ``1xHxW``) and
:class:`Normalize` standardises image and depth channels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image, ImageEnhance

# ImageNet statistics, matching the VGG16 weights the SegNet encoder starts from.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
# Depth reaches ToTensor scaled to [0, 1] (see segnet.data.sunrgbd); this fixed affine map sends
# it to [-1, 1]. It is a range convention, not a dataset statistic.
DEPTH_MEAN = 0.5
DEPTH_STD = 0.5


@dataclass
class Sample:
    """One training example on its way through the transforms.

    Before :class:`ToTensor`: ``image`` PIL RGB, ``label`` PIL ``I``/``L`` (or None at inference),
    ``depth`` PIL ``F`` (or None). After it: the matching tensors.
    """

    image: Image.Image | torch.Tensor
    label: Image.Image | torch.Tensor | None = None
    depth: Image.Image | torch.Tensor | None = None

    @classmethod
    def from_arrays(
        cls, image: Image.Image, label: np.ndarray | None = None, depth: np.ndarray | None = None
    ) -> Sample:
        """Wrap decoded arrays; labels go to PIL ``I`` (int32) so any ignore value survives padding."""
        lab = None if label is None else Image.fromarray(np.ascontiguousarray(label, dtype=np.int32))
        dep = None if depth is None else Image.fromarray(np.ascontiguousarray(depth, dtype=np.float32))
        return cls(image, lab, dep)


Transform = Callable[[Sample, np.random.Generator], Sample]


def _pil(x: object, name: str) -> Image.Image:
    if not isinstance(x, Image.Image):
        raise TypeError(f"{name} expects PIL images; put geometric transforms before ToTensor")
    return x


class Compose:
    """Apply transforms in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for t in self.transforms:
            sample = t(sample, rng)
        return sample

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


def _resize(sample: Sample, width: int, height: int) -> Sample:
    size = (width, height)
    return Sample(
        _pil(sample.image, "resize").resize(size, Image.BILINEAR),
        None if sample.label is None else _pil(sample.label, "resize").resize(size, Image.NEAREST),
        None if sample.depth is None else _pil(sample.depth, "resize").resize(size, Image.NEAREST),
    )


class Resize:
    """Resize to ``height x width`` (image bilinear, label and depth nearest)."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = int(height), int(width)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if _pil(sample.image, "Resize").size == (self.width, self.height):
            return sample
        return _resize(sample, self.width, self.height)

    def __repr__(self) -> str:
        return f"Resize({self.height}, {self.width})"


class RandomHorizontalFlip:
    """Mirror image, label and depth together with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample

        def flip(im: object) -> Image.Image | None:
            return None if im is None else _pil(im, "RandomHorizontalFlip").transpose(Image.FLIP_LEFT_RIGHT)

        return Sample(flip(sample.image), flip(sample.label), flip(sample.depth))

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def _pad(im: Image.Image, width: int, height: int, fill: float) -> Image.Image:
    """Pad on the right and bottom to at least ``width x height``."""
    w, h = im.size
    if w >= width and h >= height:
        return im
    if im.mode == "L" and not 0 <= fill <= 255:
        im = im.convert("I")
    out = Image.new(im.mode, (max(w, width), max(h, height)), fill if im.mode != "RGB" else (0, 0, 0))
    out.paste(im, (0, 0))
    return out


class RandomScaleCrop:
    """Scale by a random factor in ``scale``, pad if smaller than ``size``, crop ``size`` at random.

    ``size`` is ``(height, width)``; None crops back to the input's own size. Padding is 0 for
    the image and depth and ``ignore_index`` for the label, so padded pixels never train.
    """

    def __init__(
        self, size: tuple[int, int] | None = None, scale: tuple[float, float] = (0.5, 2.0), ignore_index: int = 255
    ) -> None:
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale range must satisfy 0 < min <= max, got {scale}")
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.scale = (float(scale[0]), float(scale[1]))
        self.ignore_index = int(ignore_index)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        w, h = _pil(sample.image, "RandomScaleCrop").size
        ch, cw = self.size if self.size is not None else (h, w)
        s = rng.uniform(*self.scale)
        sample = _resize(sample, max(1, round(w * s)), max(1, round(h * s)))
        image = _pad(sample.image, cw, ch, 0)
        label = None if sample.label is None else _pad(sample.label, cw, ch, self.ignore_index)
        depth = None if sample.depth is None else _pad(sample.depth, cw, ch, 0.0)
        pw, ph = image.size
        x = int(rng.integers(0, pw - cw + 1))
        y = int(rng.integers(0, ph - ch + 1))
        box = (x, y, x + cw, y + ch)
        return Sample(
            image.crop(box),
            None if label is None else label.crop(box),
            None if depth is None else depth.crop(box),
        )

    def __repr__(self) -> str:
        return f"RandomScaleCrop(size={self.size}, scale={self.scale}, ignore_index={self.ignore_index})"


class ColorJitter:
    """Random brightness, contrast, saturation and hue of the image only (labels and depth untouched).

    Factors are drawn uniformly from ``[1 - s, 1 + s]`` for brightness/contrast/saturation and the
    hue is turned by up to ``hue`` of a full turn, in a random order: other lighting and other
    cameras than the few CamVid sequences were filmed with.
    """

    def __init__(self, brightness: float = 0.3, contrast: float = 0.3, saturation: float = 0.3,
                 hue: float = 0.05) -> None:
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if not 0 <= value < 1:
                raise ValueError(f"{name} jitter must be in [0, 1), got {value}")
        if not 0 <= hue <= 0.5:
            raise ValueError(f"hue jitter must be in [0, 0.5], got {hue}")
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        image = _pil(sample.image, "ColorJitter").convert("RGB")
        enhancers = [(ImageEnhance.Brightness, self.brightness), (ImageEnhance.Contrast, self.contrast),
                     (ImageEnhance.Color, self.saturation)]
        factors = [rng.uniform(1 - s, 1 + s) for _, s in enhancers]
        shift = rng.uniform(-self.hue, self.hue)
        for position in rng.permutation(4):
            if position < 3:
                image = enhancers[position][0](image).enhance(factors[position])
            elif self.hue > 0:
                image = _shift_hue(image, shift)
        return replace(sample, image=image)

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
                f"saturation={self.saturation}, hue={self.hue})")


def _shift_hue(image: Image.Image, turn: float) -> Image.Image:
    """Rotate the hue by ``turn`` of a full circle (PIL's HSV keeps hue in 0..255)."""
    h, s, v = image.convert("HSV").split()
    offset = int(round(turn * 256)) % 256
    h = h.point(lambda value: (value + offset) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


class ToTensor:
    """PIL sample -> tensors: image float32 ``3xHxW`` in [0, 1], label int64 ``HxW``, depth ``1xHxW``."""

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        image = np.asarray(_pil(sample.image, "ToTensor").convert("RGB"), dtype=np.float32) / 255.0
        label = depth = None
        if sample.label is not None:
            label = torch.from_numpy(np.asarray(_pil(sample.label, "ToTensor"), dtype=np.int64).copy())
        if sample.depth is not None:
            depth = torch.from_numpy(np.asarray(_pil(sample.depth, "ToTensor"), dtype=np.float32).copy())[None]
        return Sample(torch.from_numpy(image).permute(2, 0, 1).contiguous(), label, depth)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """Standardise image channels by ``mean``/``std`` and depth by ``depth_mean``/``depth_std``."""

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        depth_mean: float = DEPTH_MEAN,
        depth_std: float = DEPTH_STD,
    ) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.depth_mean, self.depth_std = float(depth_mean), float(depth_std)

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        if not isinstance(sample.image, torch.Tensor):
            raise TypeError("Normalize expects tensors; put ToTensor before it")
        depth = sample.depth
        if isinstance(depth, torch.Tensor):
            depth = (depth - self.depth_mean) / self.depth_std
        return replace(sample, image=(sample.image - self.mean) / self.std, depth=depth)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()})"


def train_transform(
    size: tuple[int, int] | None,
    ignore_index: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    scale_aug: bool = True,
) -> Compose:
    """Training pipeline: (random scale+crop | resize) to ``size`` (None = native), flip, tensor, normalise."""
    steps: list[Transform] = []
    if scale_aug:
        steps.append(RandomScaleCrop(size, ignore_index=ignore_index))
    elif size is not None:
        steps.append(Resize(*size))
    steps += [RandomHorizontalFlip(0.5), ToTensor(), Normalize(mean, std)]
    return Compose(steps)


def eval_transform(
    size: tuple[int, int] | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Compose:
    """Deterministic pipeline: optional resize to ``size`` (height, width), tensor, normalise."""
    steps: list[Transform] = [] if size is None else [Resize(*size)]
    steps += [ToTensor(), Normalize(mean, std)]
    return Compose(steps)
