"""Training, evaluation and checkpoints (uses models, data and metrics; never the other way)."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

# Loaded on first use: the command line reads TrainConfig (engine.config, no torch) to word its help.
_EXPORTS = {
    "CheckpointError": "..checkpoint", "LoadedModel": "..checkpoint", "atomic_save": "..checkpoint",
    "load_model": "..checkpoint", "read_checkpoint": "..checkpoint",
    "TrainConfig": ".config",
    "evaluate_model": ".evaluate", "evaluate_predictions": ".evaluate", "format_report": ".evaluate",
    "train": ".trainer",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:
    from ..checkpoint import CheckpointError, LoadedModel, atomic_save, load_model, read_checkpoint
    from .config import TrainConfig
    from .evaluate import evaluate_model, evaluate_predictions, format_report
    from .trainer import train

__all__ = ["CheckpointError", "LoadedModel", "TrainConfig", "atomic_save", "evaluate_model", "evaluate_predictions",
           "format_report", "load_model", "read_checkpoint", "train"]
