"""
CenterNet ("Objects as Points", Zhou, Wang and Krahenbuhl, 2019) as a Detectron2
meta-architecture.

Importing this package registers the meta-architecture ``"CenterNet"`` with Detectron2.
Models are built from LazyConfigs (``configs/CenterNet``); ``anchorfree.config.get_predictor_cfg``
serves them to ``DefaultPredictor``.
"""

from .head import CenterNetHead, CenterNetOutputs
from .losses import centernet_losses
from .meta_arch import CenterNet
from .postprocess import CenterNetPostprocessor, boxes_from_centers, merge_flipped, merge_scales
from .target_generator import CenterNetTargetGenerator, CenterNetTargets

__all__ = [
    "CenterNet",
    "CenterNetHead",
    "CenterNetOutputs",
    "CenterNetPostprocessor",
    "CenterNetTargetGenerator",
    "CenterNetTargets",
    "centernet_losses",
    "boxes_from_centers",
    "merge_flipped",
    "merge_scales",
]
