"""DeepLab-LargeFOV (Chen et al., ICLR 2015, "DeepLab v1") on this package's VGG16 encoder.

The SegNet paper's third comparison network: VGG16 whose last two poolings keep the resolution
(3x3, stride 1, pad 1), block-5 convs dilated by 2 to keep their field of view, fc6 as a 3x3
atrous conv of rate 12 to 1024 channels (the "large field of view"), fc7 1x1 1024, dropout, a
1x1 classifier at output stride 8, and bilinear upsampling of the logits to the input size.
No CRF: the SegNet paper also compares DeepLab-LargeFOV with and without its dense CRF.

Differences: the encoder is the shared VGG16 with BatchNorm (DeepLab v1 has none); the stride-2
3x3 poolings round down, which for 3x3/2/pad 1 is ceil(H/2), so the stride is exactly 8 for any
size (Caffe's rounding up adds a row/column at even sizes, why DeepLab crops to 8k+1); and the
upsampling uses ``align_corners=False`` so it needs no 8k+1 sizes either.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .registry import register_model
from .segnet import check_input
from .vgg import VGG16Encoder

MIN_INPUT_SIZE = 32  # the same floor as the other VGG16 models (a 4x4 map at stride 8)
FC_WIDTH = 1024
FC6_DILATION = 12
OUTPUT_STRIDE = 8


class DeepLabLargeFOV(nn.Module):
    def __init__(self, num_classes: int, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.encoder = VGG16Encoder(in_channels)
        # Block 5 follows two stride-1 pools: dilation 2 keeps the receptive field VGG16 had.
        for unit in self.encoder.blocks[4]:
            unit.conv.dilation = (2, 2)
            unit.conv.padding = (2, 2)
        self.pools = nn.ModuleList(
            [nn.MaxPool2d(3, stride=2, padding=1) for _ in range(3)]
            + [nn.MaxPool2d(3, stride=1, padding=1) for _ in range(2)]
        )
        self.fc6 = nn.Sequential(
            nn.Conv2d(self.encoder.out_channels, FC_WIDTH, 3, padding=FC6_DILATION, dilation=FC6_DILATION),
            nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.fc7 = nn.Sequential(nn.Conv2d(FC_WIDTH, FC_WIDTH, 1), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.classifier = nn.Conv2d(FC_WIDTH, num_classes, 1)  # DeepLab's fc8

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, MIN_INPUT_SIZE, type(self).__name__)
        size = x.shape[-2:]
        for block, pool in zip(self.encoder.blocks, self.pools):
            x = pool(block(x))
        logits = self.classifier(self.fc7(self.fc6(x)))  # output stride 8
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


@register_model("deeplab_largefov",
                "DeepLab-LargeFOV: VGG16 at stride 8, atrous fc6 (rate 12, 1024), bilinear upsampling",
                paper="DeepLab-LargeFOV (Chen et al., ICLR 2015), as compared in SegNet Table 3")
def deeplab_largefov(num_classes: int, in_channels: int = 3, dropout: float = 0.5) -> DeepLabLargeFOV:
    return DeepLabLargeFOV(num_classes, in_channels, dropout)
