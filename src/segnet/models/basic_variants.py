"""The decoder variants of the SegNet paper's analysis (its Table 1), on SegNet-Basic's encoder.

Every variant keeps SegNet-Basic's encoder (LRN, 4 x conv7x7(64)+BN+ReLU+2x2 pool) and module
names (``input_norm``, ``encoder.i``), and changes only how the decoder gets back to full size:

- FCN-Basic: each encoder map is reduced to K = num_classes channels by a 1x1 conv; the decoder
  upsamples K-channel maps with learnt 8x8 deconvolutions (bilinear at start) and adds the
  reduced encoder map of the same resolution. ``-NoAddition`` drops the additions (nothing to
  store), ``-NoDimReduction`` drops the 1x1 reductions (64-channel maps are upsampled and added,
  a 1x1 classifier follows), ``-NoAddition-NoDimReduction`` drops both.
- Bilinear: fixed bilinear upsampling in place of unpooling.
- SegNet-Basic-EncoderAddition: SegNet-Basic plus the whole 64-channel encoder map added.
- SegNet-Basic-SingleChannelDecoder: the decoder's 7x7 filters see one channel each (depthwise).

"Encoder map" means an encoder's conv output before pooling, the map whose resolution the
matching decoder restores (the map SegNet's decoder takes its pooling positions from).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .fcn import crop_to, upsampler
from .layers import ConvBNReLU, InputLocalResponseNorm
from .registry import register_model
from .segnet import check_input
from .segnet_basic import DEPTH, KERNEL, MIN_INPUT_SIZE, WIDTH, SegNetBasic

PAPER = "SegNet paper (Badrinarayanan et al., TPAMI 2017), Table 1: "
FCN_BASIC_KERNEL = 8  # the paper's 8x8 upsampling kernels


class _BasicEncoderNet(nn.Module):
    """SegNet-Basic's encoder with plain pooling, for the variants that keep no indices."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.input_norm = InputLocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=1.0)
        self.encoder = nn.ModuleList(
            ConvBNReLU(in_channels if i == 0 else WIDTH, WIDTH, KERNEL) for i in range(DEPTH)
        )
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)  # rounds up like SegNet-Basic's

    def encode(self, x: Tensor, keep_maps: bool) -> tuple[Tensor, list[Tensor], list[tuple[int, int]]]:
        """Deepest pooled map, the encoder maps (only if ``keep_maps``), and their sizes."""
        check_input(x, self.in_channels, MIN_INPUT_SIZE, type(self).__name__)
        x = self.input_norm(x)
        maps, sizes = [], []
        for block in self.encoder:
            x = block(x)
            sizes.append(tuple(x.shape[-2:]))
            if keep_maps:  # the decoder's storage cost: the paper's "encoder storage" column
                maps.append(x)
            x = self.pool(x)
        return x, maps, sizes


class FCNBasic(_BasicEncoderNet):
    """FCN-Basic and its -NoAddition / -NoDimReduction variants."""

    def __init__(self, num_classes: int, in_channels: int = 3, reduction: bool = True,
                 addition: bool = True) -> None:
        super().__init__(in_channels)
        self.num_classes = num_classes
        self.addition = addition
        width = num_classes if reduction else WIDTH
        # 1x1 "score" of the deepest pooled map: the compressed K-channel decoder input.
        self.reduce_input = nn.Conv2d(WIDTH, num_classes, 1) if reduction else None
        self.reduce = (nn.ModuleList(nn.Conv2d(WIDTH, num_classes, 1) for _ in range(DEPTH))
                       if reduction and addition else None)
        self.upsample = nn.ModuleList(upsampler(width, 2, FCN_BASIC_KERNEL) for _ in range(DEPTH))
        # Without reduction the decoder ends with 64 maps: a 1x1 classifier makes the logits.
        self.classifier = None if reduction else nn.Conv2d(WIDTH, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        x, maps, sizes = self.encode(x, keep_maps=self.addition)
        if self.reduce_input is not None:
            x = self.reduce_input(x)
        for level in reversed(range(DEPTH)):
            x = crop_to(self.upsample[level](x), sizes[level])
            if self.addition:
                skip = maps.pop()
                x = x + (self.reduce[level](skip) if self.reduce is not None else skip)
        return x if self.classifier is None else self.classifier(x)


class BilinearBasic(_BasicEncoderNet):
    """Fixed bilinear upsampling instead of unpooling; SegNet-Basic's decoder convs by default."""

    def __init__(self, num_classes: int, in_channels: int = 3, decoder_convs: bool = True) -> None:
        super().__init__(in_channels)
        self.num_classes = num_classes
        self.decoder = (nn.ModuleList(ConvBNReLU(WIDTH, WIDTH, KERNEL, relu=False) for _ in range(DEPTH))
                        if decoder_convs else None)
        self.classifier = nn.Conv2d(WIDTH, num_classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        x, _, sizes = self.encode(x, keep_maps=False)
        for level in reversed(range(DEPTH)):
            x = F.interpolate(x, size=sizes[level], mode="bilinear", align_corners=False)
            if self.decoder is not None:
                x = self.decoder[DEPTH - 1 - level](x)
        return self.classifier(x)


class SegNetBasicEncoderAddition(SegNetBasic):
    """SegNet-Basic whose decoders add the 64-channel encoder map to their output."""

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, MIN_INPUT_SIZE, type(self).__name__)
        x = self.input_norm(x)
        saved = []
        for block in self.encoder:
            skip = block(x)
            x, indices = self.pool(skip)
            saved.append((indices, skip))
        for block in self.decoder:
            indices, skip = saved.pop()
            # The paper adds the encoder maps "to the corresponding output feature maps" of the decoder.
            x = block(self.unpool(x, indices, skip.shape[-2:])) + skip
        return self.classifier(x)


class SegNetBasicSingleChannelDecoder(SegNetBasic):
    """SegNet-Basic whose decoder filters each convolve only their own upsampled map."""

    def __init__(self, num_classes: int, in_channels: int = 3, compact_indices: bool = True) -> None:
        super().__init__(num_classes, in_channels, compact_indices=compact_indices)
        # Reassigning keeps the attribute's place, so the classifier stays the last child.
        self.decoder = nn.ModuleList(
            nn.Sequential(nn.Conv2d(WIDTH, WIDTH, KERNEL, padding=KERNEL // 2, groups=WIDTH),
                          nn.BatchNorm2d(WIDTH))
            for _ in range(DEPTH)
        )


@register_model("fcn_basic", "FCN-Basic: SegNet-Basic encoder, 1x1 reduction to K, 8x8 deconvolution, added skips",
                paper=PAPER + "FCN-Basic")
def fcn_basic(num_classes: int, in_channels: int = 3) -> FCNBasic:
    return FCNBasic(num_classes, in_channels)


@register_model("fcn_basic_noaddition", "FCN-Basic without the encoder-map additions (nothing stored)",
                paper=PAPER + "FCN-Basic-NoAddition")
def fcn_basic_noaddition(num_classes: int, in_channels: int = 3) -> FCNBasic:
    return FCNBasic(num_classes, in_channels, addition=False)


@register_model("fcn_basic_nodimreduction", "FCN-Basic without 1x1 reduction: 64-channel maps upsampled and added",
                paper=PAPER + "FCN-Basic-NoDimReduction")
def fcn_basic_nodimreduction(num_classes: int, in_channels: int = 3) -> FCNBasic:
    return FCNBasic(num_classes, in_channels, reduction=False)


@register_model("fcn_basic_noaddition_nodimreduction",
                "FCN-Basic with neither 1x1 reduction nor additions: 64-channel deconvolutions only",
                paper=PAPER + "FCN-Basic-NoAddition-NoDimReduction")
def fcn_basic_noaddition_nodimreduction(num_classes: int, in_channels: int = 3) -> FCNBasic:
    return FCNBasic(num_classes, in_channels, reduction=False, addition=False)


@register_model("bilinear_basic", "SegNet-Basic with fixed bilinear upsampling in place of unpooling",
                paper=PAPER + "Bilinear-Interpolation (decoder convs kept unless decoder_convs=False)")
def bilinear_basic(num_classes: int, in_channels: int = 3, decoder_convs: bool = True) -> BilinearBasic:
    return BilinearBasic(num_classes, in_channels, decoder_convs)


@register_model("segnet_basic_encoderaddition", "SegNet-Basic plus the 64-channel encoder maps added in the decoder",
                paper=PAPER + "SegNet-Basic-EncoderAddition")
def segnet_basic_encoderaddition(num_classes: int, in_channels: int = 3,
                                 compact_indices: bool = True) -> SegNetBasicEncoderAddition:
    return SegNetBasicEncoderAddition(num_classes, in_channels, compact_indices=compact_indices)


@register_model("segnet_basic_singlechanneldecoder", "SegNet-Basic with single-channel (depthwise 7x7) decoder filters",
                paper=PAPER + "SegNet-Basic-SingleChannelDecoder")
def segnet_basic_singlechanneldecoder(num_classes: int, in_channels: int = 3,
                                      compact_indices: bool = True) -> SegNetBasicSingleChannelDecoder:
    return SegNetBasicSingleChannelDecoder(num_classes, in_channels, compact_indices)
