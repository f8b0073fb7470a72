"""SegNet-Basic: the paper's small 4-encoder network for its decoder analysis.

Caffe's segnet_basic: local response normalisation on the input, 4 x (conv7x7(64)+BN+ReLU+pool),
4 x (unpool+conv7x7(64)+BN) with no ReLU in the decoder, then a 1x1 classifier.
"""

from __future__ import annotations

from torch import Tensor, nn

from .layers import ConvBNReLU, InputLocalResponseNorm, dropout_or_identity
from .pooling import MaxPool2x2, MaxUnpool2x2
from .registry import register_model
from .segnet import check_input, encode_decode

DEPTH = 4
WIDTH = 64
KERNEL = 7
MIN_INPUT_SIZE = 16


class SegNetBasic(nn.Module):
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
        # The Caffe model's LRN on the raw input (local_size 5, alpha 1e-4, beta 0.75).
        self.input_norm = InputLocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=1.0)
        self.encoder = nn.ModuleList(
            ConvBNReLU(in_channels if i == 0 else WIDTH, WIDTH, KERNEL) for i in range(DEPTH)
        )
        self.encoder_dropout = nn.ModuleList(
            dropout_or_identity(i in dropout_encoder, dropout) for i in range(DEPTH)
        )
        self.decoder_dropout = nn.ModuleList(
            dropout_or_identity(DEPTH - 1 - k in dropout_decoder, dropout) for k in range(DEPTH)
        )
        self.decoder = nn.ModuleList(ConvBNReLU(WIDTH, WIDTH, KERNEL, relu=False) for _ in range(DEPTH))
        self.pool = MaxPool2x2(compact=compact_indices)
        self.unpool = MaxUnpool2x2()
        self.classifier = nn.Conv2d(WIDTH, num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, MIN_INPUT_SIZE, type(self).__name__)
        x = self.input_norm(x)
        x = encode_decode(x, self.encoder, self.encoder_dropout, self.decoder, self.decoder_dropout,
                          self.pool, self.unpool)
        return self.classifier(x)


@register_model("segnet_basic", "SegNet-Basic: 4 encoders/decoders of 7x7x64 convs (paper's analysis net)",
                paper="SegNet-Basic (Badrinarayanan et al., TPAMI 2017)")
def segnet_basic(num_classes: int, in_channels: int = 3, compact_indices: bool = True) -> SegNetBasic:
    return SegNetBasic(num_classes, in_channels, compact_indices=compact_indices)


@register_model("bayesian_segnet_basic",
                "Bayesian SegNet-Basic: dropout around the three deepest encoders/decoders",
                paper="Bayesian SegNet-Basic (Kendall et al., BMVC 2017)")
def bayesian_segnet_basic(
    num_classes: int, in_channels: int = 3, dropout: float = 0.5, compact_indices: bool = True
) -> SegNetBasic:
    return SegNetBasic(num_classes, in_channels, dropout_encoder=(1, 2, 3), dropout_decoder=(1, 2, 3),
                       dropout=dropout, compact_indices=compact_indices)
