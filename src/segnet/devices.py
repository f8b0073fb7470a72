"""Device names as users write them: cpu, cuda, cuda:N, or auto (the GPU when there is one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "cpu, cuda, cuda:N or auto (cuda when available, else cpu)"


def resolve_device(device: str | torch.device | None = "cpu") -> torch.device:
    """The ``torch.device`` for ``device``, checked now so a missing GPU fails with one clear line."""
    import torch  # here, not above: the command line words DEVICE_HELP before torch is loaded

    if device is None:
        return torch.device("cpu")
    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        resolved = torch.device(text)
    except RuntimeError:
        raise ValueError(f"device '{device}' is not a device name; use {DEVICE_HELP}") from None
    if resolved.type == "cpu":
        return torch.device("cpu")
    if resolved.type != "cuda":
        raise ValueError(f"device '{device}' is not supported; use {DEVICE_HELP}")
    if not torch.cuda.is_available():
        raise ValueError(f"device '{device}': CUDA is not available on this machine; use cpu or auto")
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        raise ValueError(f"device '{device}': this machine has {count} CUDA device(s), numbered 0 to {count - 1}")
    return resolved
