"""DeconvNet (Noh, Hong, Han, ICCV 2015) on this package's VGG16 encoder, for comparison.

Noh et al.'s network: VGG16 convs with max-pooling switches, fc6/fc7 as convolutions (7x7 to
4096, 1x1 4096), a 7x7 deconvolution of fc7 back to 512 maps, then a decoder mirroring the
encoder: unpooling with the encoder's switches followed by 3x3 deconvolutions, every layer
with BatchNorm and ReLU, and a 1x1 score layer. It is SegNet's decoder idea plus the fully
connected layers and learnt deconvolutions, hence ~252M parameters against SegNet's 29.5M.

Difference: the original's fc6 is a valid 7x7 conv that needs a 224x224 input (7x7 pool5 map ->
1x1) and its deconvolution brings 1x1 back to 7x7. Here fc6 is padded (pad 3) and fc6-deconv is
a padded stride-1 transposed conv, so the map keeps its size and any input of at least 32x32
works. Weights have the same shapes. Pooling rounds up and keeps 2-bit positions, as in SegNet.
"""

from __future__ import annotations

from torch import Tensor, nn

from .layers import ConvBNReLU
from .pooling import MaxPool2x2, MaxUnpool2x2
from .registry import register_model
from .segnet import check_input
from .vgg import VGG16Encoder

MIN_INPUT_SIZE = 32
FC_WIDTH = 4096
# Noh et al.'s deconv5 ... deconv1 widths (their deconv1 has two layers before the score layer).
DECONVNET_DECODER_BLOCKS: tuple[tuple[int, ...], ...] = (
    (512, 512, 512),
    (512, 512, 256),
    (256, 256, 128),
    (128, 64),
    (64, 64),
)


class DeconvBNReLU(nn.Sequential):
    """Stride-1 transposed conv (size kept) -> BatchNorm -> ReLU: DeconvNet's decoder unit."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class DeconvNet(nn.Module):
    def __init__(self, num_classes: int, in_channels: int = 3, compact_indices: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.encoder = VGG16Encoder(in_channels)
        self.pool = MaxPool2x2(compact=compact_indices)
        self.unpool = MaxUnpool2x2()
        # Noh et al. put BatchNorm and ReLU after fc6, fc7 and fc6-deconv too (no dropout).
        self.fc6 = ConvBNReLU(self.encoder.out_channels, FC_WIDTH, kernel_size=7)
        self.fc7 = ConvBNReLU(FC_WIDTH, FC_WIDTH, kernel_size=1)
        self.fc6_deconv = DeconvBNReLU(FC_WIDTH, self.encoder.out_channels, kernel_size=7)
        decoder = []
        channels = self.encoder.out_channels
        for widths in DECONVNET_DECODER_BLOCKS:
            layers = []
            for width in widths:
                layers.append(DeconvBNReLU(channels, width))
                channels = width
            decoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(decoder)
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)  # Noh's seg-score

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, MIN_INPUT_SIZE, type(self).__name__)
        saved = []
        for block in self.encoder.blocks:
            x = block(x)
            size = x.shape[-2:]
            x, indices = self.pool(x)
            saved.append((indices, size))
        x = self.fc6_deconv(self.fc7(self.fc6(x)))
        for block in self.decoder:
            indices, size = saved.pop()
            x = block(self.unpool(x, indices, size))
        return self.classifier(x)


@register_model("deconvnet", "DeconvNet: VGG16 + conv fc6/fc7, unpooling with switches and 3x3 deconvolutions",
                paper="DeconvNet (Noh, Hong, Han, ICCV 2015), as compared in SegNet Table 3")
def deconvnet(num_classes: int, in_channels: int = 3, compact_indices: bool = True) -> DeconvNet:
    return DeconvNet(num_classes, in_channels, compact_indices)
