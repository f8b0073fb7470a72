"""SegNet: encoder-decoder semantic segmentation that upsamples with max-pooling indices."""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

# Loaded on first use: `import segnet` alone (the command line, `segnet --version`) does not load torch.
_EXPORTS = {
    "ModelSpec": ".models", "create_model": ".models", "create_model_from_spec": ".models",
    "list_models": ".models", "load_vgg16_encoder_weights": ".models", "mc_dropout_predict": ".models",
    "Segmenter": ".inference", "load": ".inference",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:
    from .inference import Segmenter, load
    from .models import (ModelSpec, create_model, create_model_from_spec, list_models, load_vgg16_encoder_weights,
                         mc_dropout_predict)

__all__ = [
    "ModelSpec", "Segmenter", "create_model", "load", "create_model_from_spec", "list_models",
    "load_vgg16_encoder_weights", "mc_dropout_predict", "__version__",
]
