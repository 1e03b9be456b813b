"""
FCOS: Fully Convolutional One-Stage object detection (Tian et al., ICCV 2019; improvements of
arXiv:2006.09214) as a Detectron2 meta-architecture.

Importing this package registers the meta-architecture ``"AnchorFreeFCOS"`` and the backbone
``"build_anchorfree_fcos_resnet_fpn_backbone"`` with Detectron2, so that yacs configs work with
``build_model`` and ``DefaultPredictor`` (after ``add_fcos_config(cfg)``).
"""

from .backbone import build_anchorfree_fcos_resnet_fpn_backbone
from .config import add_fcos_config
from .head import FCOSHead, Scale
from .losses import centerness_targets, fcos_losses, iou_loss
from .meta_arch import AnchorFreeFCOS
from .postprocess import FCOSPostprocessor, decode_boxes
from .target_generator import FCOSTargetGenerator, FCOSTargets, compute_points, level_size_ranges

__all__ = [
    "AnchorFreeFCOS",
    "FCOSHead",
    "FCOSPostprocessor",
    "FCOSTargetGenerator",
    "FCOSTargets",
    "Scale",
    "add_fcos_config",
    "build_anchorfree_fcos_resnet_fpn_backbone",
    "centerness_targets",
    "compute_points",
    "decode_boxes",
    "fcos_losses",
    "iou_loss",
    "level_size_ranges",
]
