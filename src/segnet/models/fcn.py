"""FCN-8s (Long, Shelhamer, Darrell, CVPR 2015) on this package's VGG16 encoder, for comparison.

The SegNet paper compares against FCN: VGG16 convs, fc6/fc7 kept as (large) convolutions, class
scores from pool5, pool4 and pool3 fused by learnt 2x/2x/8x deconvolutions. fc6/fc7 keep their
real sizes (7x7x512x4096, 1x1x4096x4096) so parameters and model size compare with the paper's
FCN (134M parameters, ~539 MB with 21 classes).

Differences from the Caffe FCN-8s, each so one encoder and any input size serve every model:
the encoder is the shared VGG16 with BatchNorm; pooling rounds up (as in SegNet) instead of the
original's 100-pixel padding of conv1_1 plus crop layers; fc6 is padded (7x7, pad 3) so any input
of at least 32x32 keeps a score map; the deconvolutions are padded so each one lands on its
skip's pixel grid and a crop of the bottom/right overhang gives exactly HxW.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .registry import register_model
from .segnet import check_input
from .vgg import VGG16Encoder

MIN_INPUT_SIZE = 32  # 5 poolings, as SegNet
FC_WIDTH = 4096


def bilinear_kernel(kernel_size: int, stride: int) -> Tensor:
    """A kernel_size^2 bilinear tent of half-width ``stride``, centred in the kernel.

    For kernel 2*stride this is FCN's ``upsample_filt``; a larger kernel gets zeros outside
    the tent, so at initialisation the layer is exact bilinear interpolation either way.
    """
    centre = (kernel_size - 1) / 2
    offsets = torch.arange(kernel_size, dtype=torch.float32) - centre
    tent = (1 - offsets.abs() / stride).clamp(min=0)
    return tent[:, None] * tent[None, :]


@torch.no_grad()
def init_bilinear_(deconv: nn.ConvTranspose2d) -> None:
    """Channel c -> c bilinear upsampling, nothing across channels (FCN's initialisation)."""
    weight = deconv.weight  # (in, out, k, k)
    kernel = bilinear_kernel(deconv.kernel_size[0], deconv.stride[0]).to(weight)
    eye = torch.eye(weight.shape[0], weight.shape[1], dtype=weight.dtype, device=weight.device)
    weight.copy_(eye[:, :, None, None] * kernel)
    if deconv.bias is not None:
        deconv.bias.zero_()


def upsampler(channels: int, stride: int, kernel_size: int | None = None) -> nn.ConvTranspose2d:
    """A learnt x``stride`` upsampling started as bilinear interpolation.

    Padding (kernel - stride) / 2 makes the output exactly stride x the input and puts each
    input pixel's peak at the centre of its stride x stride block, i.e. on the finer map's grid.
    """
    kernel_size = kernel_size or 2 * stride
    deconv = nn.ConvTranspose2d(channels, channels, kernel_size, stride=stride,
                                padding=(kernel_size - stride) // 2, bias=False)
    init_bilinear_(deconv)
    return deconv


def crop_to(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Drop the bottom/right overhang left by rounding-up pooling (2 * ceil(h/2) >= h)."""
    return x[..., : size[0], : size[1]]


class FCN8s(nn.Module):
    def __init__(self, num_classes: int, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.encoder = VGG16Encoder(in_channels)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        # fc6/fc7 as convolutions, with FCN's ReLU and (element-wise, Caffe) dropout.
        self.fc6 = nn.Sequential(nn.Conv2d(self.encoder.out_channels, FC_WIDTH, 7, padding=3),
                                 nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.fc7 = nn.Sequential(nn.Conv2d(FC_WIDTH, FC_WIDTH, 1), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout))
        self.score_fr = nn.Conv2d(FC_WIDTH, num_classes, 1)
        self.score_pool4 = nn.Conv2d(512, num_classes, 1)
        self.score_pool3 = nn.Conv2d(256, num_classes, 1)
        # FCN zero-initialises the skip scores, so training starts from the FCN-32s path.
        for score in (self.score_pool4, self.score_pool3):
            nn.init.zeros_(score.weight)
            nn.init.zeros_(score.bias)
        self.upscore2 = upsampler(num_classes, 2)
        self.upscore_pool4 = upsampler(num_classes, 2)
        self.upscore8 = upsampler(num_classes, 8)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_channels, MIN_INPUT_SIZE, type(self).__name__)
        size = x.shape[-2:]
        blocks = self.encoder.blocks
        x = self.pool(blocks[0](x))
        x = self.pool(blocks[1](x))
        pool3 = self.pool(blocks[2](x))
        pool4 = self.pool(blocks[3](pool3))
        x = self.pool(blocks[4](pool4))
        x = self.score_fr(self.fc7(self.fc6(x)))
        x = crop_to(self.upscore2(x), pool4.shape[-2:]) + self.score_pool4(pool4)
        x = crop_to(self.upscore_pool4(x), pool3.shape[-2:]) + self.score_pool3(pool3)
        return crop_to(self.upscore8(x), size)


@register_model("fcn", "FCN-8s: VGG16 + conv fc6/fc7, learnt 2x/2x/8x deconvolution with pool4/pool3 skips",
                paper="FCN-8s (Long, Shelhamer, Darrell, CVPR 2015), as compared in SegNet Table 3")
def fcn(num_classes: int, in_channels: int = 3, dropout: float = 0.5) -> FCN8s:
    return FCN8s(num_classes, in_channels, dropout)
