"""
ResNet + FPN for FCOS from a yacs config: P3-P5 from C3-C5, P6/P7 from P5.

The registered name carries the project prefix: AdelaiDet registers its own
``build_fcos_resnet_fpn_backbone``, and Detectron2 refuses a name registered twice.
"""

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone import FPN, build_resnet_backbone
from detectron2.modeling.backbone.fpn import LastLevelP6P7

__all__ = ["build_anchorfree_fcos_resnet_fpn_backbone"]


@BACKBONE_REGISTRY.register()
def build_anchorfree_fcos_resnet_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """
    Like Detectron2's ``build_retinanet_resnet_fpn_backbone``, but P6 and P7 are computed from
    P5 rather than C5 (FCOS, Sec. 2.2 of arXiv:2006.09214). Reads ``MODEL.RESNETS.*`` and
    ``MODEL.FPN.*``.
    """
    bottom_up = build_resnet_backbone(cfg, input_shape)
    out_channels = cfg.MODEL.FPN.OUT_CHANNELS
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=out_channels,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelP6P7(out_channels, out_channels, in_feature="p5"),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
