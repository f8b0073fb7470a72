"""FCN-8s, DeconvNet and DeepLab-LargeFOV: structure and parameter counts from the layer sizes.

Models are built on the meta device: shapes and counts without allocating ~1 GB of weights.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import segnet
from segnet.models import MaxUnpool2x2, count_parameters, measure_complexity
from segnet.models.fcn import upsampler
from segnet.models.vgg import VGG16_BLOCKS

K = 11


def meta_model(name, num_classes=K):
    with torch.device("meta"):
        return segnet.create_model(name, num_classes)


def conv_params(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def vgg16_bn_params(in_channels=3):
    total, cin = 0, in_channels
    for width in (w for block in VGG16_BLOCKS for w in block):
        total += conv_params(cin, width, 3) + 2 * width  # conv + BatchNorm scale/shift
        cin = width
    return total


def test_vgg16_reference_count():
    # torchvision's vgg16 features: 14,714,688 conv parameters, plus 2 x 4224 BatchNorm ones here.
    assert vgg16_bn_params() == 14_714_688 + 2 * 4224


def test_fcn_parameters_match_layer_sizes():
    expected = (vgg16_bn_params()
                + conv_params(512, 4096, 7) + conv_params(4096, 4096, 1)  # fc6, fc7
                + conv_params(4096, K, 1) + conv_params(512, K, 1) + conv_params(256, K, 1)  # scores
                + conv_params(K, K, 4, bias=False) * 2 + conv_params(K, K, 16, bias=False))  # x2, x2, x8
    assert count_parameters(meta_model("fcn")) == expected
    assert 134.2e6 < expected < 134.5e6  # the FCN-8s of the paper: 134M


def test_fcn_structure():
    model = meta_model("fcn")
    ups = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.stride, u.kernel_size, u.in_channels, u.out_channels) for u in ups] == [
        ((2, 2), (4, 4), K, K), ((2, 2), (4, 4), K, K), ((8, 8), (16, 16), K, K)]
    assert model.fc6[0].kernel_size == (7, 7) and model.fc6[0].out_channels == 4096
    seen = {}
    for name in ("score_pool4", "score_pool3", "score_fr"):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, (tuple(i[0].shape), tuple(o.shape))))
    out = model.eval()(torch.empty(1, 3, 360, 480, device="meta"))
    assert out.shape == (1, K, 360, 480)
    # Skips come from pool4 (stride 16) and pool3 (stride 8), scores from pool5 (stride 32).
    assert seen["score_pool4"] == ((1, 512, 23, 30), (1, K, 23, 30))
    assert seen["score_pool3"] == ((1, 256, 45, 60), (1, K, 45, 60))
    assert seen["score_fr"][1] == (1, K, 12, 15)


@pytest.mark.parametrize("stride,kernel", [(2, 4), (2, 8), (8, 16)])
def test_upsampler_starts_as_bilinear_interpolation(stride, kernel):
    """Against torch's bilinear resize (align_corners=False), away from the zero-padded border."""
    x = torch.randn(1, 3, 9, 7)
    up = upsampler(3, stride, kernel)
    with torch.no_grad():
        ours = up(x)
    reference = F.interpolate(x, scale_factor=stride, mode="bilinear", align_corners=False)
    assert ours.shape == reference.shape
    border = stride
    torch.testing.assert_close(ours[..., border:-border, border:-border],
                               reference[..., border:-border, border:-border])


def test_deconvnet_parameters_match_layer_sizes():
    bn = lambda c: 2 * c  # noqa: E731
    expected = (vgg16_bn_params()
                + conv_params(512, 4096, 7) + bn(4096) + conv_params(4096, 4096, 1) + bn(4096)
                + conv_params(4096, 512, 7) + bn(512))  # fc6, fc7, fc6-deconv
    widths = [512, 512, 512, 512, 512, 256, 256, 256, 128, 128, 64, 64, 64]
    cin = 512
    for width in widths:
        expected += conv_params(cin, width, 3) + bn(width)
        cin = width
    expected += conv_params(64, K, 1)
    assert count_parameters(meta_model("deconvnet")) == expected
    assert 251e6 < expected < 253e6  # Noh et al.: 252M


def test_deconvnet_unpools_with_indices_and_deconvolves():
    model = meta_model("deconvnet")
    deconvs = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [d.kernel_size for d in deconvs] == [(7, 7)] + [(3, 3)] * 13
    assert all(d.stride == (1, 1) for d in deconvs)
    assert model.fc6[0].kernel_size == (7, 7) and model.fc6[0].out_channels == 4096
    calls = []
    unpool = next(m for m in model.modules() if isinstance(m, MaxUnpool2x2))
    unpool.register_forward_hook(lambda m, args, out: calls.append((args[1], tuple(out.shape[-2:]))))
    out = model.eval()(torch.empty(1, 3, 361, 479, device="meta"))
    assert out.shape == (1, K, 361, 479)
    assert [size for _, size in calls] == [(23, 30), (46, 60), (91, 120), (181, 240), (361, 479)]
    assert all(isinstance(indices, segnet.models.PoolIndices) for indices, _ in calls)


def test_deeplab_parameters_match_layer_sizes():
    expected = (vgg16_bn_params() + conv_params(512, 1024, 3) + conv_params(1024, 1024, 1)
                + conv_params(1024, K, 1))
    assert count_parameters(meta_model("deeplab_largefov")) == expected
    assert 20.4e6 < expected < 20.6e6  # DeepLab-LargeFOV: 20.5M


def test_deeplab_atrous_fc6_and_output_stride_8():
    model = meta_model("deeplab_largefov")
    fc6 = model.fc6[0]
    assert (fc6.dilation, fc6.padding, fc6.kernel_size, fc6.out_channels) == ((12, 12), (12, 12), (3, 3), 1024)
    assert [unit.conv.dilation for unit in model.encoder.blocks[4]] == [(2, 2)] * 3
    assert [p.stride for p in model.pools] == [2, 2, 2, 1, 1]
    shapes = []
    model.classifier.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    for size, low in (((360, 480), (45, 60)), ((361, 479), (46, 60))):
        out = model.eval()(torch.empty(1, 3, *size, device="meta"))
        assert shapes.pop() == (1, K, *low)  # stride 8 (rounded up) before the bilinear resize
        assert out.shape == (1, K, *size)


def test_deeplab_logits_are_a_bilinear_resize():
    torch.manual_seed(0)
    model = segnet.create_model("deeplab_largefov", 3).eval()
    low = []
    model.classifier.register_forward_hook(lambda m, i, o: low.append(o))
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        out = model(x)
    assert low[0].shape[-2:] == (5, 6)
    torch.testing.assert_close(out, F.interpolate(low[0], size=(40, 48), mode="bilinear", align_corners=False))


def test_comparison_costs_at_camvid_size():
    gflops = {name: measure_complexity(meta_model(name), (3, 360, 480)).gflops
              for name in ("fcn", "deconvnet", "deeplab_largefov")}
    # Dominated by VGG16 at 360x480 (~2 x 15.5 G multiply-adds x 360*480/224^2); deeper heads add on top.
    assert all(100 < g < 400 for g in gflops.values()), gflops
    assert gflops["deconvnet"] > gflops["fcn"]


def test_meta_copy_keeps_output_size():
    model = meta_model("fcn")
    out = copy.deepcopy(model).train()(torch.empty(2, 3, 33, 47, device="meta"))
    assert out.shape == (2, K, 33, 47)
