"""The web demo: a FastAPI app around a loaded `Segmenter` (the paper's online road-scene demo)."""

from ..extras import require

require("serve", "segnet.serve (the web demo)")

from .app import create_app  # noqa: E402

__all__ = ["create_app"]
