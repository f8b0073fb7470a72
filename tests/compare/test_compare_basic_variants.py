"""The SegNet paper's Table 1 decoder variants: each one's distinguishing piece, parameter counts
from hand formulas, and forwards against references written with torch's own pooling ops."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import segnet
from segnet.models import MaxPool2x2, MaxUnpool2x2, count_parameters

K = 11
W = 64  # SegNet-Basic's width


def encoder_params(in_channels=3):
    """LRN (no weights) + 4 x conv7x7(64) with bias + BatchNorm."""
    return (49 * in_channels * W + W) + 3 * (49 * W * W + W) + 4 * 2 * W


def classifier_params():
    return W * K + K


def build(name, **options):
    torch.manual_seed(0)
    return segnet.create_model(name, K, **options)


def test_segnet_basic_formula_is_the_reference():
    decoder = 4 * (49 * W * W + W + 2 * W)
    assert count_parameters(build("segnet_basic")) == encoder_params() + decoder + classifier_params()


def test_fcn_basic_parameters_and_pieces():
    model = build("fcn_basic")
    # 5 x 1x1 reductions to K (4 encoder maps + the decoder input), 4 x 8x8 K->K deconvolutions.
    assert count_parameters(model) == encoder_params() + 5 * (W * K + K) + 4 * 64 * K * K
    ups = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.kernel_size, u.stride, u.in_channels, u.out_channels) for u in ups] == [((8, 8), (2, 2), K, K)] * 4
    reductions = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(reductions) == 5 and all((r.in_channels, r.out_channels) == (W, K) for r in reductions)
    assert not any(isinstance(m, (MaxPool2x2, MaxUnpool2x2)) for m in model.modules())  # no indices


def test_fcn_basic_adds_reduced_encoder_maps():
    """Zeroing the reductions of the skips leaves exactly the no-addition network."""
    model = build("fcn_basic").eval()
    plain = build("fcn_basic_noaddition").eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("reduce.")})
    x = torch.randn(1, 3, 35, 42)
    with torch.no_grad():
        differs = not torch.allclose(model(x), plain(x))
        for conv in model.reduce:
            conv.weight.zero_()
            conv.bias.zero_()
        torch.testing.assert_close(model(x), plain(x))
    assert differs


def test_fcn_basic_variants_parameters():
    assert count_parameters(build("fcn_basic_noaddition")) == encoder_params() + (W * K + K) + 4 * 64 * K * K
    no_reduction = encoder_params() + 4 * 64 * W * W + classifier_params()
    assert count_parameters(build("fcn_basic_nodimreduction")) == no_reduction
    assert count_parameters(build("fcn_basic_noaddition_nodimreduction")) == no_reduction
    ups = [m for m in build("fcn_basic_nodimreduction").modules() if isinstance(m, nn.ConvTranspose2d)]
    assert all((u.in_channels, u.out_channels) == (W, W) for u in ups)


def test_fcn_basic_nodimreduction_adds_whole_encoder_maps():
    model = build("fcn_basic_nodimreduction").eval()
    calls = []
    model.classifier.register_forward_hook(lambda m, i, o: calls.append(i[0]))
    x = torch.randn(1, 3, 32, 40)
    with torch.no_grad():
        model(x)
        # Reference: conv1's output plus the last upsampling of the decoder's 64 maps.
        first = model.encoder[0](model.input_norm(x))
        rest = first
        maps = [first]
        for block in model.encoder[1:]:
            rest = block(F.max_pool2d(rest, 2, ceil_mode=True))
            maps.append(rest)
        y = F.max_pool2d(rest, 2, ceil_mode=True)
        for level in reversed(range(4)):
            y = model.upsample[level](y)[..., : maps[level].shape[-2], : maps[level].shape[-1]] + maps[level]
    torch.testing.assert_close(calls[0], y)


def test_bilinear_basic_uses_fixed_bilinear_upsampling():
    model = build("bilinear_basic").eval()
    assert not any(isinstance(m, (nn.ConvTranspose2d, MaxUnpool2x2, MaxPool2x2)) for m in model.modules())
    assert count_parameters(model) == count_parameters(build("segnet_basic"))  # decoder convs kept
    bare = build("bilinear_basic", decoder_convs=False)
    assert count_parameters(bare) == encoder_params() + classifier_params()  # the paper's 0.6M variant
    x = torch.randn(1, 3, 33, 40)
    with torch.no_grad():
        y = model.input_norm(x)
        sizes = []
        for block in model.encoder:
            y = block(y)
            sizes.append(y.shape[-2:])
            y = F.max_pool2d(y, 2, ceil_mode=True)
        for block, size in zip(model.decoder, reversed(sizes)):
            y = block(F.interpolate(y, size=size, mode="bilinear", align_corners=False))
        torch.testing.assert_close(model(x), model.classifier(y))


def test_segnet_basic_encoderaddition_against_torch_unpooling():
    model = build("segnet_basic_encoderaddition").eval()
    assert count_parameters(model) == count_parameters(build("segnet_basic"))
    x = torch.randn(1, 3, 37, 30)
    with torch.no_grad():
        y = model.input_norm(x)
        saved = []
        for block in model.encoder:
            skip = block(y)
            y, indices = F.max_pool2d(skip, 2, ceil_mode=True, return_indices=True)
            saved.append((indices, skip))
        for block in model.decoder:
            indices, skip = saved.pop()
            y = block(F.max_unpool2d(y, indices, 2, output_size=skip.shape[-2:])) + skip
        torch.testing.assert_close(model(x), model.classifier(y))
        plain = build("segnet_basic").eval()
        plain.load_state_dict(model.state_dict())
        assert not torch.allclose(plain(x), model(x))


def test_segnet_basic_singlechanneldecoder_is_depthwise():
    model = build("segnet_basic_singlechanneldecoder")
    convs = [block[0] for block in model.decoder]
    assert all(c.groups == W and tuple(c.weight.shape) == (W, 1, 7, 7) for c in convs)
    # Each decoder: 64 single-channel 7x7 filters with bias, BatchNorm; the paper's ~0.625M in all.
    expected = encoder_params() + 4 * (49 * W + W + 2 * W) + classifier_params()
    assert count_parameters(model) == expected
    assert 0.62e6 < expected < 0.63e6


@pytest.mark.parametrize("name", ["segnet_basic_encoderaddition", "segnet_basic_singlechanneldecoder"])
def test_unpooling_variants_keep_2_bit_indices(name):
    assert build(name).pool.compact
    assert not build(name, compact_indices=False).pool.compact
