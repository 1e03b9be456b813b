"""LazyConfig loading with strict overrides, the check of the training options' values
(:func:`check_training_options`), and the bridge that serves any LazyConfig to Detectron2's
``DefaultPredictor`` (:func:`get_predictor_cfg`)."""

from .loading import YacsConfigRemovedError, check_config_file, load_config
from .predictor_cfg import get_predictor_cfg
from .training_options import check_training_options

__all__ = [
    "YacsConfigRemovedError",
    "check_config_file",
    "check_training_options",
    "get_predictor_cfg",
    "load_config",
]
