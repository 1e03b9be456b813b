from .launch import launch
from .predictor import Predictor, as_bgr_image
from .training import build_model_from_config, do_test, do_train, load_for_evaluation

__all__ = [
    "Predictor",
    "as_bgr_image",
    "build_model_from_config",
    "do_test",
    "do_train",
    "launch",
    "load_for_evaluation",
]
