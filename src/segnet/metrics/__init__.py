"""Evaluation metrics of the SegNet paper: G, C, mIoU (confusion matrix) and boundary F1 (BF)."""

from segnet.metrics.boundary import BoundaryF1Meter, boundary_f1
from segnet.metrics.confusion import ConfusionMatrix, metrics_from_confusion

__all__ = ["BoundaryF1Meter", "ConfusionMatrix", "boundary_f1", "metrics_from_confusion"]
