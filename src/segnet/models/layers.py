"""Small building blocks shared by the architectures."""

from __future__ import annotations

from torch import nn


class ConvBNReLU(nn.Sequential):
    """conv -> BatchNorm -> (ReLU): the unit SegNet's encoder and decoder are made of.

    The conv keeps its bias, as in VGG16 and the Caffe SegNet, so ImageNet weights load as they are.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, relu: bool = True
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.BatchNorm2d(out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)

    @property
    def conv(self) -> nn.Conv2d:
        return self[0]  # type: ignore[return-value]

    @property
    def bn(self) -> nn.BatchNorm2d:
        return self[1]  # type: ignore[return-value]


def dropout_or_identity(enabled: bool, p: float) -> nn.Module:
    """Element-wise dropout (as Caffe's) where Bayesian SegNet samples, identity elsewhere."""
    return nn.Dropout(p) if enabled else nn.Identity()
