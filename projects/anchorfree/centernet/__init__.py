"""
CenterNet ("Objects as Points", Zhou, Wang and Krahenbuhl, 2019) as a Detectron2
meta-architecture.

Importing this package registers the meta-architecture ``"CenterNet"`` and the stride-4
backbones ``build_anchorfree_resnet_upsampling_backbone`` and
``build_anchorfree_resnet_fpn_p2_backbone`` with Detectron2, so that yacs configs work with
``build_model`` and ``DefaultPredictor`` (after ``add_centernet_config(cfg)``).
"""

from .config import add_centernet_config
from .head import CenterNetHead, CenterNetOutputs
from .losses import centernet_losses, gather_regression
from .meta_arch import CenterNet
from .postprocess import CenterNetPostprocessor, decode_boxes, merge_flipped
from .target_generator import CenterNetTargetGenerator, CenterNetTargets

__all__ = [
    "CenterNet",
    "CenterNetHead",
    "CenterNetOutputs",
    "CenterNetPostprocessor",
    "CenterNetTargetGenerator",
    "CenterNetTargets",
    "add_centernet_config",
    "centernet_losses",
    "decode_boxes",
    "gather_regression",
    "merge_flipped",
]
