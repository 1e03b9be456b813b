"""
CornerNet: Detecting Objects as Paired Keypoints (Law & Deng, ECCV 2018) as a Detectron2
meta-architecture.

Importing this package registers the meta-architecture ``"CornerNet"`` with Detectron2.
Models are built from LazyConfigs (``configs/CornerNet``); ``anchorfree.config.get_predictor_cfg``
serves them to ``DefaultPredictor``.
"""

from anchorfree.modeling.soft_nms import SOFT_NMS_METHODS, batched_soft_nms, soft_nms_decay

from .corner_pooling import CornerPooling, bottom_pool, left_pool, right_pool, top_pool
from .head import CornerHead, CornerNetHead, CornerPredictions
from .losses import associative_embedding_loss, cornernet_losses
from .meta_arch import CornerNet
from .postprocess import (
    NMS_TYPES,
    CornerCandidates,
    CornerNetPostprocessor,
    flip_candidates,
    merge_candidates,
)
from .target_generator import CornerNetTargetGenerator, CornerNetTargets

__all__ = [
    "NMS_TYPES",
    "SOFT_NMS_METHODS",
    "CornerCandidates",
    "CornerHead",
    "CornerNet",
    "CornerNetHead",
    "CornerNetPostprocessor",
    "CornerNetTargetGenerator",
    "CornerNetTargets",
    "CornerPooling",
    "CornerPredictions",
    "associative_embedding_loss",
    "batched_soft_nms",
    "bottom_pool",
    "cornernet_losses",
    "flip_candidates",
    "left_pool",
    "merge_candidates",
    "right_pool",
    "soft_nms_decay",
    "top_pool",
]
