"""Training, evaluation and checkpoints (uses models, data and metrics; never the other way)."""

from ..checkpoint import CheckpointError, LoadedModel, atomic_save, load_model, read_checkpoint
from .config import TrainConfig
from .evaluate import evaluate_model, evaluate_predictions, format_report
from .trainer import train

__all__ = ["CheckpointError", "LoadedModel", "TrainConfig", "atomic_save", "evaluate_model", "evaluate_predictions",
           "format_report", "load_model", "read_checkpoint", "train"]
