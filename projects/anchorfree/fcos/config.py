"""yacs config keys of FCOS (``MODEL.FCOS.*``), for ``DefaultPredictor`` and yaml configs."""

from detectron2.config import CfgNode as CN

__all__ = ["add_fcos_config"]


def add_fcos_config(cfg: CN) -> None:
    """
    Add the FCOS keys to a Detectron2 yacs config, in place. Defaults are the improved FCOS
    (arXiv:2006.09214) on COCO. Also read: ``MODEL.BACKBONE/RESNETS/FPN`` (backbone, e.g.
    ``build_anchorfree_fcos_resnet_fpn_backbone``), ``MODEL.PIXEL_MEAN/STD``,
    ``TEST.DETECTIONS_PER_IMAGE`` (detections kept per image, 100).
    """
    cfg.MODEL.FCOS = CN()
    cfg.MODEL.FCOS.NUM_CLASSES = 80
    cfg.MODEL.FCOS.IN_FEATURES = ["p3", "p4", "p5", "p6", "p7"]

    # Head
    cfg.MODEL.FCOS.NUM_CONVS = 4
    cfg.MODEL.FCOS.NORM = "GN"  # any get_norm name; "" for none
    cfg.MODEL.FCOS.PRIOR_PROB = 0.01
    cfg.MODEL.FCOS.CENTERNESS_ON_REG = True  # False: on the classification branch (first paper)
    cfg.MODEL.FCOS.USE_SCALE = True  # a learnable scale per level on the box output
    # True: box targets divided by the stride, box output ReLU (x stride at test time).
    # False: targets in pixels, box output exp().
    cfg.MODEL.FCOS.NORM_REG_TARGETS = True

    # Targets: size ranges [0,64],[64,128],[128,256],[256,512],[512,inf] on max(l,t,r,b).
    cfg.MODEL.FCOS.SIZES_OF_INTEREST = [64, 128, 256, 512]
    cfg.MODEL.FCOS.CENTER_SAMPLING_RADIUS = 1.5  # in strides; 0 disables center sampling

    # Losses
    cfg.MODEL.FCOS.FOCAL_LOSS_ALPHA = 0.25
    cfg.MODEL.FCOS.FOCAL_LOSS_GAMMA = 2.0
    cfg.MODEL.FCOS.BOX_LOSS_TYPE = "giou"  # "giou", "iou" (-log IoU) or "linear_iou"
    cfg.MODEL.FCOS.CENTERNESS_WEIGHTED_BOX_LOSS = True  # as in the original implementation

    # Inference
    cfg.MODEL.FCOS.SCORE_THRESH_TEST = 0.05  # on the class probability, before centerness
    cfg.MODEL.FCOS.TOPK_CANDIDATES_TEST = 1000  # per level
    cfg.MODEL.FCOS.NMS_THRESH_TEST = 0.6
