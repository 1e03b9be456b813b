"""
FCOS: Fully Convolutional One-Stage object detection (Tian et al., ICCV 2019; improvements of
arXiv:2006.09214) as a Detectron2 meta-architecture.

Importing this package registers the meta-architecture ``"AnchorFreeFCOS"`` with Detectron2.
Models are built from LazyConfigs (``configs/FCOS``); ``anchorfree.config.get_predictor_cfg``
serves them to ``DefaultPredictor``.
"""

from .head import AnchorFreeFCOSHead, Scale
from .losses import centerness_targets, fcos_losses, iou_loss
from .meta_arch import AnchorFreeFCOS
from .postprocess import FCOSPostprocessor, boxes_from_ltrb
from .target_generator import FCOSTargetGenerator, FCOSTargets, compute_points, level_size_ranges

__all__ = [
    "AnchorFreeFCOS",
    "AnchorFreeFCOSHead",
    "FCOSPostprocessor",
    "FCOSTargetGenerator",
    "FCOSTargets",
    "Scale",
    "centerness_targets",
    "compute_points",
    "boxes_from_ltrb",
    "fcos_losses",
    "iou_loss",
    "level_size_ranges",
]
