"""SegNet and Bayesian SegNet: VGG16 encoder, index-unpooling decoder, pixel-wise classifier.

Follows the paper's Caffe model: every decoder conv has BatchNorm and ReLU except the final
classifier (a 3x3 conv straight to the logits, no BN/ReLU on the output). Upsampling uses only the
encoder's pooling positions; there are no learned upsampling weights.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

from .layers import ConvBNReLU, dropout_or_identity
from .pooling import MaxPool2x2, MaxUnpool2x2
from .registry import register_model
from .vgg import VGG16_BLOCKS, VGG16Encoder

# Decoder widths: the encoder mirrored; each block's last conv hands the next block its width.
SEGNET_DECODER_BLOCKS: tuple[tuple[int, ...], ...] = (
    (512, 512, 512),
    (512, 512, 256),
    (256, 256, 128),
    (128, 64),
    (64,),
)
MIN_INPUT_SIZE = 32  # 5 poolings: smaller inputs leave 1x1 maps with no context to decode


def check_input(x: Tensor, in_channels: int, min_size: int, model: str) -> None:
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"{model} expects a batch of shape (N, {in_channels}, H, W), got {tuple(x.shape)}"
        )
    height, width = x.shape[-2:]
    if height < min_size or width < min_size:
        raise ValueError(f"{model} needs inputs of at least {min_size}x{min_size}, got {height}x{width}")


def encode_decode(
    x: Tensor,
    encoder: Iterable[nn.Module],
    encoder_dropout: Iterable[nn.Module],
    decoder: Iterable[nn.Module],
    decoder_dropout: Iterable[nn.Module],
    pool: MaxPool2x2,
    unpool: MaxUnpool2x2,
) -> Tensor:
    """The SegNet pattern: encode and pool (keeping positions), then unpool and decode, mirrored.

    Only the pooling positions and pre-pool sizes outlive an encoder block: reassigning ``x``
    frees each full-resolution activation at once in inference, and popping frees each block's
    positions as soon as its decoder has used them.
    """
    saved = []  # (pooling positions, pre-pool size), deepest last
    for block, drop in zip(encoder, encoder_dropout):
        x = block(x)
        size = x.shape[-2:]
        x, indices = pool(x)
        saved.append((indices, size))
        x = drop(x)
    for block, drop in zip(decoder, decoder_dropout):
        indices, size = saved.pop()
        x = block(unpool(drop(x), indices, size))
    return x


class SegNet(nn.Module):
    """The paper's SegNet (encoder = VGG16's 13 convs), optionally with Bayesian dropout.

    ``dropout_encoder``/``dropout_decoder`` name the blocks (0 = shallowest) whose pooled output /
    unpooling input gets dropout; Bayesian SegNet uses the three deepest of each (the paper's
    "central" placement, its best).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        dropout_encoder: tuple[int, ...] = (),
        dropout_decoder: tuple[int, ...] = (),
        dropout: float = 0.5,
        compact_indices: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.encoder = VGG16Encoder(in_channels, VGG16_BLOCKS)
        depth = len(VGG16_BLOCKS)
        self.encoder_dropout = nn.ModuleList(
            dropout_or_identity(i in dropout_encoder, dropout) for i in range(depth)
        )
        # Decoder block k undoes encoder block depth-1-k; its dropout index is the encoder's.
        self.decoder_dropout = nn.ModuleList(
            dropout_or_identity(depth - 1 - k in dropout_decoder, dropout) for k in range(depth)
        )
        self.pool = MaxPool2x2(compact=compact_indices)
        self.unpool = MaxUnpool2x2()
        decoder = []
        channels = self.encoder.out_channels
        for widths in SEGNET_DECODER_BLOCKS:
            layers = []
            for width in widths:
                layers.append(ConvBNReLU(channels, width))
                channels = width
            decoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(decoder)
        # Caffe SegNet's conv1_1_D: 3x3 to the classes, no BatchNorm or ReLU on the logits.
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, MIN_INPUT_SIZE, type(self).__name__)
        x = encode_decode(x, self.encoder.blocks, self.encoder_dropout, self.decoder, self.decoder_dropout,
                          self.pool, self.unpool)
        return self.classifier(x)


@register_model("segnet", "SegNet: VGG16 encoder, index-unpooling decoder (paper, ~29.4M params)",
                paper="SegNet (Badrinarayanan et al., TPAMI 2017)")
def segnet(num_classes: int, in_channels: int = 3, compact_indices: bool = True) -> SegNet:
    return SegNet(num_classes, in_channels, compact_indices=compact_indices)


@register_model("bayesian_segnet",
                "Bayesian SegNet: SegNet with dropout around the three deepest encoders/decoders",
                paper="Bayesian SegNet (Kendall et al., BMVC 2017), central dropout")
def bayesian_segnet(
    num_classes: int, in_channels: int = 3, dropout: float = 0.5, compact_indices: bool = True
) -> SegNet:
    return SegNet(num_classes, in_channels, dropout_encoder=(2, 3, 4), dropout_decoder=(2, 3, 4),
                  dropout=dropout, compact_indices=compact_indices)
