from .checkpoint import CheckedCheckpointer, refuse_partial_weights
from .evaluation import SanitizedCOCOEvaluator
from .launch import launch
from .predictor import Predictor, as_bgr_image
from .training import (
    build_model_from_config,
    default_setup,
    do_test,
    do_train,
    load_for_evaluation,
)

__all__ = [
    "CheckedCheckpointer",
    "Predictor",
    "SanitizedCOCOEvaluator",
    "as_bgr_image",
    "build_model_from_config",
    "default_setup",
    "do_test",
    "do_train",
    "launch",
    "load_for_evaluation",
    "refuse_partial_weights",
]
