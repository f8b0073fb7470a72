"""Architectures. Importing this package registers every model."""

from . import segnet as _segnet  # noqa: F401  (registers segnet, bayesian_segnet)
from . import segnet_basic as _segnet_basic  # noqa: F401
from . import fcn as _fcn  # noqa: F401
from . import deconvnet as _deconvnet  # noqa: F401
from . import deeplab as _deeplab  # noqa: F401
from . import basic_variants as _basic_variants  # noqa: F401  (SegNet paper Table 1 variants)
from .bayesian import mc_dropout_predict
from .complexity import Complexity, count_parameters, measure_complexity
from .pooling import MaxPool2x2, MaxUnpool2x2, PoolIndices, compact_max_pool2d, compact_max_unpool2d
from .registry import ModelSpec, create_model, create_model_from_spec, list_models, model_entry
from .vgg import VGG16Encoder, WeightsError, load_vgg16_encoder_weights

__all__ = [
    "Complexity", "MaxPool2x2", "MaxUnpool2x2", "ModelSpec", "PoolIndices", "VGG16Encoder",
    "WeightsError", "compact_max_pool2d", "compact_max_unpool2d", "count_parameters",
    "create_model", "create_model_from_spec", "list_models", "load_vgg16_encoder_weights",
    "mc_dropout_predict", "measure_complexity", "model_entry",
]
