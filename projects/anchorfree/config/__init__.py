"""LazyConfig loading with strict overrides, and the bridge that serves any LazyConfig to
Detectron2's ``DefaultPredictor`` (:func:`get_predictor_cfg`)."""

from .loading import YacsConfigRemovedError, check_config_file, load_config
from .predictor_cfg import get_predictor_cfg

__all__ = ["YacsConfigRemovedError", "check_config_file", "get_predictor_cfg", "load_config"]
