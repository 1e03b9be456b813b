"""yacs config keys of CenterNet (``MODEL.CENTERNET.*``), for ``DefaultPredictor`` and yaml configs."""

from detectron2.config import CfgNode as CN

from anchorfree.modeling.backbones.hourglass import add_hourglass_config
from anchorfree.modeling.backbones.resnet_stride4 import add_resnet_stride4_config

__all__ = ["add_centernet_config"]


def add_centernet_config(cfg: CN) -> None:
    """
    Add the CenterNet keys to a Detectron2 yacs config, in place, with the defaults of "Objects
    as Points" (Zhou et al. 2019) on COCO, and the keys of its backbones
    (:func:`~anchorfree.modeling.backbones.resnet_stride4.add_resnet_stride4_config`,
    :func:`~anchorfree.modeling.backbones.hourglass.add_hourglass_config`). Also
    read: ``MODEL.BACKBONE.NAME`` (e.g. ``build_anchorfree_resnet_upsampling_backbone``),
    ``MODEL.PIXEL_MEAN/STD``, ``TEST.DETECTIONS_PER_IMAGE`` (K, the peaks decoded per image:
    100).
    """
    add_resnet_stride4_config(cfg)
    if "HOURGLASS" not in cfg.MODEL:  # CornerNet's config adds it too
        add_hourglass_config(cfg)
    cfg.MODEL.CENTERNET = CN()
    cfg.MODEL.CENTERNET.NUM_CLASSES = 80
    # Backbone outputs of stride 4 the head reads. Several (Hourglass stacks): one head each,
    # all supervised in training (losses averaged), the last one decoded at test time.
    cfg.MODEL.CENTERNET.IN_FEATURES = ["up4"]

    # Head: per branch conv 3x3 (HEAD_CONV channels) + ReLU + conv 1x1; 0 = the 1x1 conv alone.
    cfg.MODEL.CENTERNET.HEAD_CONV = 64
    # Initial heatmap logit, -log((1 - 0.1) / 0.1): every cell starts at probability 0.1.
    cfg.MODEL.CENTERNET.HEATMAP_BIAS = -2.19

    # Targets: Gaussian radius, see anchorfree.modeling.gaussian_targets.gaussian_radius.
    cfg.MODEL.CENTERNET.RADIUS_FORMULA = "published"  # or "corrected" (use with 0.3)
    cfg.MODEL.CENTERNET.MIN_OVERLAP = 0.7

    # Losses, each normalized by the number of objects (averaged over workers).
    cfg.MODEL.CENTERNET.FOCAL_LOSS_ALPHA = 2.0
    cfg.MODEL.CENTERNET.FOCAL_LOSS_BETA = 4.0
    cfg.MODEL.CENTERNET.PROB_CLAMP = 1e-4  # sigmoid clamped to [PROB_CLAMP, 1 - PROB_CLAMP]
    cfg.MODEL.CENTERNET.HEATMAP_LOSS_WEIGHT = 1.0
    cfg.MODEL.CENTERNET.WH_LOSS_WEIGHT = 0.1
    cfg.MODEL.CENTERNET.OFFSET_LOSS_WEIGHT = 1.0

    # Inference
    cfg.MODEL.CENTERNET.PEAK_KERNEL = 3  # max-pool window of the peak extraction
    cfg.MODEL.CENTERNET.SCORE_THRESH_TEST = 0.0  # keep peaks scoring above this (0: all K)
    cfg.MODEL.CENTERNET.NMS_TEST = False  # the paper uses no NMS
    cfg.MODEL.CENTERNET.NMS_THRESH_TEST = 0.5  # IoU of the class-aware NMS, when NMS_TEST
    cfg.MODEL.CENTERNET.FLIP_TEST = False  # average with the horizontally flipped image
