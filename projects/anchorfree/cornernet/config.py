"""yacs config keys of CornerNet (``MODEL.CORNERNET.*``), for ``DefaultPredictor`` and yaml
configs."""

from detectron2.config import CfgNode as CN

__all__ = ["add_cornernet_config"]


def add_cornernet_config(cfg: CN) -> None:
    """
    Add the CornerNet keys to a Detectron2 yacs config, in place, with the paper's settings
    (Hourglass-104 on COCO), and the keys of the stride-4 backbones it is used with
    (``MODEL.HOURGLASS.*``, ``MODEL.UPSAMPLING_NECK.*``). Also read: ``MODEL.BACKBONE``,
    ``MODEL.PIXEL_MEAN/STD``, ``TEST.DETECTIONS_PER_IMAGE`` (detections kept per image, 100).
    """
    from anchorfree.modeling.backbones.hourglass import add_hourglass_config
    from anchorfree.modeling.backbones.resnet_stride4 import add_resnet_stride4_config

    add_hourglass_config(cfg)
    add_resnet_stride4_config(cfg)

    cfg.MODEL.CORNERNET = CN()
    cfg.MODEL.CORNERNET.NUM_CLASSES = 80
    # One head per feature, all of stride 4; the last one is used at test time.
    cfg.MODEL.CORNERNET.IN_FEATURES = ["hg1", "hg2"]

    # Head
    cfg.MODEL.CORNERNET.POOL_CHANNELS = 128  # the two pooled branches of corner pooling
    cfg.MODEL.CORNERNET.BRANCH_CHANNELS = 256  # the 3x3 conv of each prediction branch
    cfg.MODEL.CORNERNET.NORM = "BN"  # inside corner pooling; any get_norm name
    cfg.MODEL.CORNERNET.HEATMAP_BIAS = -2.19

    # Targets
    cfg.MODEL.CORNERNET.GAUSSIAN_MIN_OVERLAP = 0.3
    cfg.MODEL.CORNERNET.GAUSSIAN_RADIUS_FORMULA = "corrected"  # or "published"

    # Losses
    cfg.MODEL.CORNERNET.FOCAL_LOSS_ALPHA = 2.0
    cfg.MODEL.CORNERNET.FOCAL_LOSS_BETA = 4.0
    cfg.MODEL.CORNERNET.PULL_WEIGHT = 0.1
    cfg.MODEL.CORNERNET.PUSH_WEIGHT = 0.1
    cfg.MODEL.CORNERNET.PUSH_MARGIN = 1.0
    cfg.MODEL.CORNERNET.OFFSET_WEIGHT = 1.0

    # Inference
    cfg.MODEL.CORNERNET.TOPK_TEST = 100  # corners per corner type
    cfg.MODEL.CORNERNET.PEAK_KERNEL_SIZE = 3
    cfg.MODEL.CORNERNET.EMBEDDING_THRESH_TEST = 0.5
    cfg.MODEL.CORNERNET.MAX_CANDIDATES_TEST = 1000  # best valid pairs before suppression
    # "soft_gaussian" (the paper), "soft_linear", "hard" or "none"
    cfg.MODEL.CORNERNET.NMS_TYPE_TEST = "soft_gaussian"
    cfg.MODEL.CORNERNET.NMS_THRESH_TEST = 0.5  # IoU: linear soft-NMS and hard NMS
    cfg.MODEL.CORNERNET.SOFT_NMS_SIGMA_TEST = 0.5
    cfg.MODEL.CORNERNET.SCORE_THRESH_TEST = 0.001
    cfg.MODEL.CORNERNET.FLIP_TEST = False
