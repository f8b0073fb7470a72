"""Shared pieces of the int8 tests: float models with non-trivial BatchNorm and image-like inputs.

Test modules skip themselves with their own ``skipif(not int8_kernels_available())`` marker (a
conftest is not importable by name when several test folders have one).
"""

from __future__ import annotations

import pytest
import torch

import segnet


def randomised_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm running statistics and an affine part far from the identity, then eval()."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                module.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                module.weight.copy_(torch.rand(n, generator=g) + 0.5)
                module.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model.eval()


def float_model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return randomised_batchnorm(segnet.create_model(name, 11), seed)


def images(count: int, height: int, width: int, seed: int) -> list[torch.Tensor]:
    """Normalised-image-like inputs: smooth random fields plus noise, one per tensor (1x3xHxW)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        coarse = torch.randn(1, 3, height // 8 + 1, width // 8 + 1, generator=g)
        smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
        out.append(smooth + 0.3 * torch.randn(1, 3, height, width, generator=g))
    return out


@pytest.fixture(scope="session")
def basic_model() -> torch.nn.Module:
    return float_model("segnet_basic", 0)


@pytest.fixture(scope="session")
def segnet_model() -> torch.nn.Module:
    return float_model("segnet", 1)


@pytest.fixture(scope="session")
def make_images():
    """``make_images(count, height, width, seed)``: a list of 1x3xHxW image-like tensors."""
    return images


@pytest.fixture(scope="session")
def make_float_model():
    """``make_float_model(name, seed)``: a fresh eval model with randomised BatchNorm."""
    return float_model
