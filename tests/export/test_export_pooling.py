"""The export-friendly pooling equals the compact 2-bit pooling exactly, ties and odd sizes included."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segnet.export import ExportCeilMaxPool2d, ExportMaxPool2x2, export_max_pool2d, export_max_unpool2d, export_ready
from segnet.models import MaxPool2x2, create_model
from segnet.models.pooling import compact_max_pool2d, compact_max_unpool2d

SHAPES = [(2, 3, 8, 10), (1, 2, 7, 9), (1, 1, 5, 4), (2, 2, 1, 1), (1, 3, 2, 3), (1, 4, 45, 61), (1, 2, 23, 30)]


def make_input(shape, kind):
    g = torch.Generator().manual_seed(sum(shape))
    if kind == "random":
        return torch.randn(*shape, generator=g)
    if kind == "ties":  # many equal maxima per window: the first in row-major order must win
        return torch.randint(0, 2, shape, generator=g).float()
    if kind == "relu":  # what the encoder pools: ReLU zeros tie in whole windows
        return torch.relu(torch.randn(*shape, generator=g) - 0.8)
    if kind == "neg_inf":  # -inf cells must not lose to the -inf padding of odd borders
        x = torch.randn(*shape, generator=g)
        return torch.where(torch.rand(shape, generator=g) < 0.6, torch.tensor(float("-inf")), x)
    return torch.full(shape, -3.0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["random", "ties", "relu", "neg_inf", "constant"])
def test_pool_and_unpool_equal_compact(shape, kind):
    x = make_input(shape, kind)
    pooled, positions = export_max_pool2d(x)
    ref_pooled, ref_indices = compact_max_pool2d(x)
    assert positions.dtype == torch.uint8
    assert torch.equal(pooled, ref_pooled)
    assert torch.equal(positions, ref_indices.positions())
    values = torch.randn(pooled.shape, generator=torch.Generator().manual_seed(1))
    unpooled = export_max_unpool2d(values, positions, shape[-2:])
    assert unpooled.shape == x.shape
    assert torch.equal(unpooled, compact_max_unpool2d(values, ref_indices))


@pytest.mark.parametrize("name,size", [("segnet_basic", (45, 61)), ("segnet", (33, 47))])
def test_export_ready_model_gives_identical_logits(name, size):
    torch.manual_seed(0)
    model = create_model(name, 5).eval()
    ready = export_ready(model)
    assert not any(isinstance(m, MaxPool2x2) for m in ready.modules())
    assert any(isinstance(m, ExportMaxPool2x2) for m in ready.modules())
    assert any(isinstance(m, MaxPool2x2) for m in model.modules())  # the original is untouched
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        assert torch.equal(ready(x), model(x))


@pytest.mark.parametrize("shape", SHAPES)
def test_ceil_max_pool_module_equals_torch(shape):
    """The FCN baselines' nn.MaxPool2d(2, 2, ceil_mode=True) is swapped for the same values."""
    x = make_input(shape, "random")
    ready = export_ready(nn.Sequential(nn.MaxPool2d(2, stride=2, ceil_mode=True)))
    assert isinstance(ready[0], ExportCeilMaxPool2d)
    assert torch.equal(ready(x), F.max_pool2d(x, 2, 2, ceil_mode=True))


def test_other_pools_are_left_alone():
    model = nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1), nn.MaxPool2d(2, stride=2))  # DeepLab; floor mode
    assert [type(m) for m in export_ready(model)] == [nn.MaxPool2d, nn.MaxPool2d]
