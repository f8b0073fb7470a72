"""Name -> builder registry: ``create_model('segnet', num_classes=11)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

ModelBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: ModelBuilder
    summary: str  # one line for `segnet models`
    paper: str = ""  # which network of which paper it follows


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model: stored in checkpoints and exports."""

    name: str
    num_classes: int
    in_channels: int = 3
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "options": dict(self.options),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        return cls(data["name"], int(data["num_classes"]), int(data.get("in_channels", 3)),
                   dict(data.get("options", {})))


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, summary: str, paper: str = "") -> Callable[[ModelBuilder], ModelBuilder]:
    def decorate(builder: ModelBuilder) -> ModelBuilder:
        if name in _REGISTRY:
            raise ValueError(f"model '{name}' is registered twice")
        _REGISTRY[name] = ModelEntry(name, builder, summary, paper)
        return builder

    return decorate


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; known models: {', '.join(list_models())}") from None


def create_model(name: str, num_classes: int, in_channels: int = 3, **options: Any) -> nn.Module:
    """Build a registered model; the result carries ``.spec`` (a :class:`ModelSpec`)."""
    entry = model_entry(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be at least 1, got {in_channels}")
    model = entry.builder(num_classes=num_classes, in_channels=in_channels, **options)
    model.spec = ModelSpec(name, num_classes, in_channels, dict(options))
    return model


def create_model_from_spec(spec: ModelSpec | dict[str, Any]) -> nn.Module:
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    return create_model(spec.name, spec.num_classes, spec.in_channels, **spec.options)
