"""SegNet: encoder-decoder semantic segmentation that upsamples with max-pooling indices."""

from .models import (
    ModelSpec,
    create_model,
    create_model_from_spec,
    list_models,
    load_vgg16_encoder_weights,
    mc_dropout_predict,
)
from .inference import Segmenter, load

__version__ = "0.1.0"

__all__ = [
    "ModelSpec", "Segmenter", "create_model", "load", "create_model_from_spec", "list_models",
    "load_vgg16_encoder_weights", "mc_dropout_predict", "__version__",
]
