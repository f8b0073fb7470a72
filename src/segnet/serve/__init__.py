"""The web demo: a FastAPI app around a loaded `Segmenter` (the paper's online road-scene demo)."""

from .app import create_app

__all__ = ["create_app"]
