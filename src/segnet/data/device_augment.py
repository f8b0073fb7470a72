"""The training transforms run on the accelerator, on a training set decoded once into its memory.

On a GPU the per-image work of the loader workers (decoding, PIL resampling, colour jitter,
float conversion, collating and pinning 40 MB per batch of 12 at 360x480) bounds the training
loop at a fraction of what the model can take. :class:`DeviceAugmenter` decodes every frame once
(after the transform's leading, deterministic ``Resize``), keeps them as uint8 on the device and
replays the rest of the same :class:`~segnet.data.transforms.Compose` there, batch by batch.

Each frame's random draws come from the dataset's own ``rng(index, epoch)`` in the order the CPU
transforms draw them, so a frame gets the same scale, crop, jitter and flip on either path, and
its label map the very pixels PIL's nearest resampling picks; only the image's resampling and
rounding differ slightly (torch's antialiased bilinear against PIL's, float colour operations
against PIL's uint8 ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from segnet.data.base import SegmentationDataset
from segnet.data.transforms import (ColorJitter, Compose, Normalize, RandomHorizontalFlip, RandomScaleCrop, Resize,
                                    ToTensor)

_SUPPORTED = (RandomScaleCrop, ColorJitter, RandomHorizontalFlip, ToTensor, Normalize)
# ITU-R 601 luma, as PIL's convert("L") weighs the channels.
_LUMA = (0.299, 0.587, 0.114)


class DeviceAugmenter:
    """A training set in device memory, turned into augmented, normalised batches on the device."""

    def __init__(self, dataset: SegmentationDataset, device: torch.device | str, threads: int = 4) -> None:
        transform = dataset.transform
        if not isinstance(transform, Compose):
            raise ValueError(f"augmenting on the device needs a Compose of transforms, got {transform!r}")
        steps = list(transform.transforms)
        fixed: list[Resize] = []
        while steps and isinstance(steps[0], Resize):
            fixed.append(steps.pop(0))
        for step in steps:
            if not isinstance(step, _SUPPORTED):
                raise ValueError(f"augmenting on the device does not support {step!r}; train without it")
        self.dataset, self.device, self.steps = dataset, torch.device(device), steps
        self.ignore_index = dataset.classes.ignore_index
        self.paste = dataset.paste  # read once, like the transforms: the classes go to the device here
        self._paste_classes = torch.tensor(self.paste.classes if self.paste else (), dtype=torch.long,
                                           device=self.device)
        # Normalisation constants on the device once: a copy per item would stall a GPU each time.
        self._normalize = {id(step): (step.mean.to(self.device), step.std.to(self.device))
                           for step in steps if isinstance(step, Normalize)}
        with ThreadPoolExecutor(max(1, threads)) as pool:  # PIL decodes with the GIL released
            frames = list(pool.map(lambda i: self._decode(i, fixed), range(len(dataset))))
        sizes = {tuple(image.shape[-2:]) for image, _ in frames}
        if len(sizes) != 1:
            raise ValueError(f"augmenting on the device needs frames of one size after resizing, got "
                             f"{', '.join(f'{h}x{w}' for h, w in sorted(sizes))}; give --size")
        self.images = torch.stack([image for image, _ in frames]).to(self.device)  # N x 3 x H x W uint8
        self.labels = torch.stack([label for _, label in frames]).to(self.device)  # N x H x W int16/int32

    def _decode(self, index: int, fixed: Sequence[Resize]) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.dataset.load_sample(index)
        if sample.depth is not None:
            raise ValueError("augmenting on the device does not support a depth channel; train without it")
        for step in fixed:
            sample = step(sample, np.random.default_rng(0))
        image = torch.from_numpy(np.asarray(sample.image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)
        # int16 halves the labels' memory; an ignore index beyond its range keeps int32.
        dtype = np.int16 if self.ignore_index < 2 ** 15 else np.int32
        label = torch.from_numpy(np.asarray(sample.label, dtype=dtype).copy())
        return image, label

    def __len__(self) -> int:
        return len(self.dataset)

    def batches(self, items: Iterable[tuple[int, int]], batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of ``batch_size`` in the order of ``items`` (``(epoch, index)`` pairs); a short last one is dropped."""
        chunk: list[tuple[int, int]] = []
        for item in items:
            chunk.append(item)
            if len(chunk) == batch_size:
                yield self.batch(chunk)
                chunk = []

    def batch(self, items: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented ``(images float32 Bx3xhxw, labels int64 Bxhxw)`` of ``(epoch, index)`` pairs."""
        pairs = [self.augment(index, epoch) for epoch, index in items]
        return torch.stack([image for image, _ in pairs]), torch.stack([label for _, label in pairs])

    def augment(self, index: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``index`` as the transforms would give it in ``epoch``, computed on the device."""
        rng = self.dataset.rng(index, epoch)
        image = self.images[index].float() / 255.0
        label = self.labels[index].long()
        drawn = None if self.paste is None else self.paste.draw(self.dataset.seed, epoch, index, len(self))
        if drawn is not None:  # the loader's class copy-paste (segnet.data.paste), on the device
            donor_image, donor_label = self.images[drawn[0]].float() / 255.0, self.labels[drawn[0]].long()
            if drawn[1]:
                donor_image, donor_label = donor_image.flip(-1), donor_label.flip(-1)
            mask = torch.isin(donor_label, self._paste_classes)
            image = torch.where(mask, donor_image, image)
            label = torch.where(mask, donor_label, label)
        for step in self.steps:
            if isinstance(step, RandomScaleCrop):
                image, label = _scale_crop(image, label, step, rng, self.ignore_index)
            elif isinstance(step, ColorJitter):
                image = _color_jitter(image, step, rng)
            elif isinstance(step, RandomHorizontalFlip):
                if rng.random() < step.p:
                    image, label = image.flip(-1), label.flip(-1)
            elif isinstance(step, Normalize):
                mean, std = self._normalize[id(step)]
                image = (image - mean) / std
        return image, label


def _scale_crop(image: torch.Tensor, label: torch.Tensor, step: RandomScaleCrop, rng: np.random.Generator,
                ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:class:`RandomScaleCrop` on tensors: the same draws, padding 0 (image) and ``ignore_index``."""
    h, w = image.shape[-2:]
    ch, cw = step.size if step.size is not None else (h, w)
    s = rng.uniform(*step.scale)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) != (h, w):
        image = F.interpolate(image[None], size=(nh, nw), mode="bilinear", align_corners=False,
                              antialias=True)[0].clamp_(0, 1)
        rows, cols = _nearest_indices(h, nh, label.device), _nearest_indices(w, nw, label.device)
        label = label.index_select(0, rows).index_select(1, cols)
    ph, pw = max(nh, ch), max(nw, cw)
    x = int(rng.integers(0, pw - cw + 1))
    y = int(rng.integers(0, ph - ch + 1))
    out_image = image.new_zeros((image.shape[0], ch, cw))
    out_label = label.new_full((ch, cw), ignore_index)
    rows, cols = min(ch, nh - y), min(cw, nw - x)  # the part of the crop that lies on the scaled frame
    if rows > 0 and cols > 0:
        out_image[:, :rows, :cols] = image[:, y:y + rows, x:x + cols]
        out_label[:rows, :cols] = label[y:y + rows, x:x + cols]
    return out_image, out_label


@functools.lru_cache(maxsize=4096)
def _nearest_indices(size: int, new_size: int, device: torch.device) -> torch.Tensor:
    """The source pixel of each output pixel when PIL resizes ``size`` to ``new_size`` with NEAREST.

    Read off a resized ramp rather than computed: PIL's fixed-point arithmetic settles exact ties
    its own way, and a label map must pick the very pixels the CPU path picks.
    """
    ramp = Image.fromarray(np.arange(size, dtype=np.int32)[None])
    picked = np.asarray(ramp.resize((new_size, 1), Image.NEAREST), dtype=np.int64)[0].copy()
    return torch.from_numpy(picked).to(device)


def _color_jitter(image: torch.Tensor, step: ColorJitter, rng: np.random.Generator) -> torch.Tensor:
    """:class:`ColorJitter` on a ``3xHxW`` tensor in [0, 1], with PIL's enhancer formulas."""
    strengths = (step.brightness, step.contrast, step.saturation)
    factors = [rng.uniform(1 - s, 1 + s) for s in strengths]
    shift = rng.uniform(-step.hue, step.hue)
    for position in rng.permutation(4):
        if position == 0:  # blend with black
            image = image * factors[0]
        elif position == 1:  # blend with the mean grey level
            image = _blend(_luma(image).mean(), image, factors[1])
        elif position == 2:  # blend with the grey version
            image = _blend(_luma(image)[None], image, factors[2])
        elif step.hue > 0:
            image = _shift_hue(image, (int(round(shift * 256)) % 256) / 256)
        image = image.clamp(0, 1)
    return image


def _luma(image: torch.Tensor) -> torch.Tensor:
    r, g, b = image.unbind(0)
    return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


def _blend(degenerate: torch.Tensor, image: torch.Tensor, factor: float) -> torch.Tensor:
    return degenerate + factor * (image - degenerate)


def _shift_hue(image: torch.Tensor, turn: float) -> torch.Tensor:
    """Rotate the hue by ``turn`` of a circle (HSV round trip; value and saturation kept)."""
    r, g, b = image.unbind(0)
    value, _ = image.max(0)
    low, _ = image.min(0)
    chroma = value - low
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(value == r, ((g - b) / safe) % 6,
                      torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    hue = torch.where(chroma > 0, hue, torch.zeros_like(hue))
    hue = (hue + turn) % 1.0
    # HSV -> RGB: each channel is value - chroma * clamp(min(k, 4 - k), 0, 1) with k = (n + 6 hue) mod 6
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = (n + hue * 6) % 6
        channels.append(value - chroma * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return torch.stack(channels)
