"""The VGG16 encoder (13 conv3x3 layers in 5 blocks) and loading of ImageNet VGG16 weights.

SegNet's encoder is VGG16's convolutional part; the fully connected layers are dropped, which
is what makes SegNet small (the paper: 134M -> 14.7M encoder parameters). The paper initialises
it from ImageNet VGG16; here that comes from a local file in torchvision's ``vgg16_bn`` or
``vgg16`` state-dict layout (``features.N.weight``, ...), since nothing can be downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .layers import ConvBNReLU

# Output channels of each conv, block by block (torchvision's cfg "D").
VGG16_BLOCKS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)

# Where the 13 convs sit in torchvision's `features` Sequential.
_CONV_POSITIONS = {
    "vgg16_bn": (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40),
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}
_BN_BUFFERS = ("weight", "bias", "running_mean", "running_var")


class VGG16Encoder(nn.Module):
    """The 5 conv blocks of VGG16 with BatchNorm, without pooling (each model pools its own way)."""

    def __init__(self, in_channels: int = 3, blocks: tuple[tuple[int, ...], ...] = VGG16_BLOCKS):
        super().__init__()
        stages = []
        channels = in_channels
        for widths in blocks:
            layers = []
            for width in widths:
                layers.append(ConvBNReLU(channels, width))
                channels = width
            stages.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(stages)
        self.out_channels = channels

    def conv_units(self) -> list[ConvBNReLU]:
        """The 13 conv units in order, for weight loading."""
        return [unit for block in self.blocks for unit in block]  # type: ignore[misc]


class WeightsError(ValueError):
    """A VGG16 weight file that does not fit the encoder."""


def _read_state_dict(source: str | Path | Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    if isinstance(source, Mapping):
        state = source
        name = "state dict"
    else:
        path = Path(source)
        if not path.is_file():
            raise WeightsError(f"{path}: VGG16 weight file not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for corrupt files
            raise WeightsError(f"{path}: not a readable torch state dict ({error})") from None
        name = str(path)
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or "features.0.weight" not in state:
        raise WeightsError(
            f"{name}: expected torchvision's vgg16/vgg16_bn layout with keys like 'features.0.weight'"
        )
    return state


def detect_vgg_layout(state: Mapping[str, Tensor]) -> str:
    """'vgg16_bn' if the file carries BatchNorm statistics, else 'vgg16'."""
    return "vgg16_bn" if "features.1.running_mean" in state else "vgg16"


def _copy(target: Tensor, source: Tensor, key: str, name: str) -> None:
    if tuple(target.shape) != tuple(source.shape):
        raise WeightsError(
            f"{name}: key '{key}' has shape {tuple(source.shape)}, the encoder expects {tuple(target.shape)}"
        )
    target.copy_(source)


@torch.no_grad()
def load_vgg16_encoder_weights(
    encoder: VGG16Encoder, source: str | Path | Mapping[str, Tensor]
) -> str:
    """Copy ImageNet VGG16 weights into ``encoder``; returns the layout found.

    With ``vgg16`` (no BatchNorm) only conv weights and biases are copied and BatchNorm keeps its
    identity initialisation. An encoder with more than 3 input channels (RGB-D) gets the RGB filters
    as they are and, for each extra channel, their mean over RGB (a common, neutral start).
    """
    name = str(source) if not isinstance(source, Mapping) else "state dict"
    state = _read_state_dict(source)
    layout = detect_vgg_layout(state)
    units = encoder.conv_units()
    for unit, position in zip(units, _CONV_POSITIONS[layout], strict=True):
        weight_key, bias_key = f"features.{position}.weight", f"features.{position}.bias"
        for key in (weight_key, bias_key):
            if key not in state:
                raise WeightsError(f"{name}: missing key '{key}' of the {layout} layout")
        weight = state[weight_key]
        target = unit.conv.weight
        if weight.dim() == 4 and target.shape[1] > weight.shape[1] == 3 and position == 0:
            extra = weight.mean(dim=1, keepdim=True).expand(-1, target.shape[1] - 3, -1, -1)
            weight = torch.cat([weight, extra], dim=1)
        _copy(target, weight, weight_key, name)
        _copy(unit.conv.bias, state[bias_key], bias_key, name)
        if layout == "vgg16_bn":
            for buffer in _BN_BUFFERS:
                key = f"features.{position + 1}.{buffer}"
                if key not in state:
                    raise WeightsError(f"{name}: missing key '{key}' of the vgg16_bn layout")
                _copy(getattr(unit.bn, buffer), state[key], key, name)
    return layout


def make_vgg16_state_dict(batch_norm: bool = True, in_channels: int = 3, seed: int = 0) -> dict[str, Tensor]:
    """A random state dict in torchvision's layout (for tests and docs; no download needed)."""
    generator = torch.Generator().manual_seed(seed)
    layout = "vgg16_bn" if batch_norm else "vgg16"
    state: dict[str, Tensor] = {}
    channels = in_channels
    widths = [w for block in VGG16_BLOCKS for w in block]
    for position, width in zip(_CONV_POSITIONS[layout], widths):
        state[f"features.{position}.weight"] = torch.randn(width, channels, 3, 3, generator=generator)
        state[f"features.{position}.bias"] = torch.randn(width, generator=generator)
        if batch_norm:
            state[f"features.{position + 1}.weight"] = torch.rand(width, generator=generator) + 0.5
            state[f"features.{position + 1}.bias"] = torch.randn(width, generator=generator)
            state[f"features.{position + 1}.running_mean"] = torch.randn(width, generator=generator)
            state[f"features.{position + 1}.running_var"] = torch.rand(width, generator=generator) + 0.5
            state[f"features.{position + 1}.num_batches_tracked"] = torch.tensor(0)
        channels = width
    # The classifier part of a real file is ignored by the loader.
    state["classifier.0.weight"] = torch.zeros(1)
    return state
