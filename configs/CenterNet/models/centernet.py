# CenterNet ("Objects as Points", anchorfree.centernet) on ResNet-18 with the paper's upsampling
# neck (3 x [deformable conv 3x3, deconv 4x4 stride 2], 256/128/64 channels, BN) to stride 4,
# 80 COCO classes. Inputs normalized for torchvision's ImageNet weights (RGB). Leaf configs edit
# this.
from anchorfree.centernet import (
    CenterNet,
    CenterNetHead,
    CenterNetPostprocessor,
    CenterNetTargetGenerator,
)
from anchorfree.modeling.backbones.resnet_stride4 import UpsamplingNeck

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import BasicStem, ResNet

model = L(CenterNet)(
    backbone=L(UpsamplingNeck)(
        bottom_up=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=64, norm="BN"),
            stages=L(ResNet.make_default_stages)(depth=18, norm="BN"),
            out_features=["res5"],
            # The paper fine-tunes the whole network.
            freeze_at=0,
        ),
        in_feature="res5",
        channels=[256, 128, 64],
        deformable=True,
        norm="BN",
    ),
    head=L(CenterNetHead)(
        input_shape=[ShapeSpec(channels=64)],
        num_classes="${..num_classes}",
        head_conv=64,
        # -log((1 - 0.1) / 0.1): every cell starts at probability 0.1.
        heatmap_bias=-2.19,
    ),
    head_in_features=["up4"],
    num_classes=80,
    target_generator=L(CenterNetTargetGenerator)(
        num_classes="${..num_classes}",
        # The original CenterNet's radius formula and overlap (see gaussian_radius).
        min_overlap=0.7,
        radius_formula="published",
    ),
    postprocessor=L(CenterNetPostprocessor)(
        topk=100, score_thresh=0.0, peak_kernel=3, nms=False, nms_thresh=0.5
    ),
    focal_loss_alpha=2.0,
    focal_loss_beta=4.0,
    prob_clamp=1e-4,
    heatmap_loss_weight=1.0,
    wh_loss_weight=0.1,
    offset_loss_weight=1.0,
    # Test-time augmentation, off: the mirror image too (flip_test: heatmaps and sizes
    # averaged) and several scales of the image (e.g. test_scales=[0.5, 0.75, 1, 1.25, 1.5], the
    # original's multi-scale test), merged with Gaussian soft-NMS.
    flip_test=False,
    test_scales=[1.0],
    # torchvision's ImageNet normalization, RGB order.
    pixel_mean=[123.675, 116.280, 103.530],
    pixel_std=[58.395, 57.120, 57.375],
)
