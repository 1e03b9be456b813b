# FCOS (anchorfree.fcos) on ResNet-50 + FPN P3-P7 (P6/P7 from P5), COCO: the improved FCOS
# (arXiv:2006.09214) settings, which are the defaults of anchorfree.fcos. Leaf configs edit this.
from anchorfree.fcos import (
    AnchorFreeFCOS,
    AnchorFreeFCOSHead,
    FCOSPostprocessor,
    FCOSTargetGenerator,
)

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelP6P7

model = L(AnchorFreeFCOS)(
    backbone=L(FPN)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=64, norm="FrozenBN"),
            stages=L(ResNet.make_default_stages)(depth=50, stride_in_1x1=True, norm="FrozenBN"),
            out_features=["res3", "res4", "res5"],
            freeze_at=2,
        ),
        in_features="${.bottom_up.out_features}",
        out_channels=256,
        top_block=L(LastLevelP6P7)(in_channels=256, out_channels=256, in_feature="p5"),
    ),
    head=L(AnchorFreeFCOSHead)(
        input_shape=[ShapeSpec(channels=256)] * 5,
        num_classes="${..num_classes}",
        conv_dims=[256] * 4,
        norm="GN",
        prior_prob=0.01,
        centerness_on_reg=True,
        # Box targets in stride units (ReLU output, x stride at test) rather than pixels (exp).
        norm_reg_targets=True,
        use_scale=True,
    ),
    head_in_features=["p3", "p4", "p5", "p6", "p7"],
    num_classes=80,
    target_generator=L(FCOSTargetGenerator)(
        num_classes="${..num_classes}",
        sizes_of_interest=[64, 128, 256, 512],
        center_sampling_radius=1.5,
        normalize_by_stride="${..head.norm_reg_targets}",
    ),
    postprocessor=L(FCOSPostprocessor)(
        score_thresh=0.05,
        topk_candidates=1000,
        nms_thresh=0.6,
        max_detections_per_image=100,
        normalize_by_stride="${..head.norm_reg_targets}",
    ),
    focal_loss_alpha=0.25,
    focal_loss_gamma=2.0,
    box_loss_type="giou",
    centerness_weighted_box_loss=True,
    # Test-time augmentation, off: the mirror image too (flip_test) and several scales of the
    # image (e.g. test_scales=[0.5, 1.0, 1.5]), merged with class-aware NMS (Detectron2-style).
    flip_test=False,
    test_scales=[1.0],
    # MSRA ImageNet weights: BGR input, std folded into conv1.
    pixel_mean=[103.530, 116.280, 123.675],
    pixel_std=[1.0, 1.0, 1.0],
)
