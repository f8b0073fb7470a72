"""Optional parts of the install: each names the extra that brings it when it is missing."""

from __future__ import annotations

import importlib.util

# extra -> (import name, pip name) of what it brings
EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "serve": (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("multipart", "python-multipart")),
    "video": (("av", "av"),),
    "export": (("onnx", "onnx"), ("onnxscript", "onnxscript"), ("onnxruntime", "onnxruntime")),
    "openvino": (("openvino", "openvino"), ("nncf", "nncf")),
    "tensorboard": (("tensorboard", "tensorboard"),),
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


def missing_modules(extra: str, only: tuple[str, ...] | None = None) -> list[str]:
    """The pip names of the extra's packages that cannot be imported here."""
    return [pip for module, pip in EXTRAS[extra]
            if (only is None or module in only) and importlib.util.find_spec(module) is None]


def require(extra: str, what: str, only: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtra` naming ``pip install 'segnet[extra]'`` if ``what`` cannot run."""
    missing = missing_modules(extra, only)
    if missing:
        everything = ", ".join(pip for _, pip in EXTRAS[extra])
        raise MissingExtra(f"{what} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                           f"not installed; pip install 'segnet[{extra}]' ({everything})")
