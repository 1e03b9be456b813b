# CornerNet (anchorfree.cornernet) on Hourglass-104 (2 stacks, intermediate supervision: one head
# per stack, the last one used at test time), COCO, with the settings of the paper (Law & Deng,
# ECCV 2018), trained from scratch. Leaf configs edit this.
from anchorfree.cornernet import (
    CornerNet,
    CornerNetHead,
    CornerNetPostprocessor,
    CornerNetTargetGenerator,
)

from detectron2.config import LazyCall as L

from ...common.models.hourglass104 import hourglass104

head = L(CornerNetHead)(
    in_channels="${...backbone.out_channels}",
    num_classes="${...num_classes}",
    pool_channels=128,
    branch_channels=256,
    norm="BN",
    # -log((1 - 0.1) / 0.1): every cell starts at probability 0.1.
    heatmap_bias=-2.19,
)

model = L(CornerNet)(
    backbone=hourglass104,
    head_in_features=["hg1", "hg2"],
    # One head per stack (not shared).
    heads=[head, head],
    num_classes=80,
    target_generator=L(CornerNetTargetGenerator)(
        num_classes="${..num_classes}", min_overlap=0.3, radius_formula="corrected"
    ),
    postprocessor=L(CornerNetPostprocessor)(
        topk=100,
        peak_kernel=3,
        embedding_thresh=0.5,
        max_candidates=1000,
        nms_type="soft_gaussian",
        nms_thresh=0.5,
        soft_nms_sigma=0.5,
        score_thresh=0.001,
        max_detections_per_image=100,
    ),
    focal_loss_alpha=2.0,
    focal_loss_beta=4.0,
    prob_clamp=1e-4,
    pull_weight=0.1,
    push_weight=0.1,
    offset_weight=1.0,
    push_margin=1.0,
    # The paper tests on the image and its mirror image, suppressing their detections together.
    flip_test=True,
    # One scale; the original's multi-scale test (CornerNet-multi_scale.json) is
    # test_scales=[0.5, 0.75, 1, 1.25, 1.5], the candidates of all scales through one soft-NMS.
    test_scales=[1.0],
    # ImageNet statistics, BGR (trained from scratch: normalize by the std too).
    pixel_mean=[103.530, 116.280, 123.675],
    pixel_std=[57.375, 57.120, 58.395],
)
