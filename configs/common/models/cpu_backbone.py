# CPU-sized backbones for the embedded dataset, trained from scratch (nothing is fetched):
# ResNet-18 + FPN-128 (P3-P7, P6/P7 from P5, GroupNorm) of the *_R_18_*_shapes configs, and the
# narrow ResNet-18 + FPN-64 variants of the from-scratch recipes (below).
import copy

from anchorfree.modeling.backbones.narrow_resnet import narrow_resnet_stages
from anchorfree.modeling.backbones.resnet_stride4 import FPNP2

from detectron2.config import LazyCall as L
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.fpn import LastLevelP6P7

FPN_CHANNELS = 128

resnet18_fpn_p3p7 = L(FPN)(
    bottom_up=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=64, norm="GN"),
        stages=L(ResNet.make_default_stages)(depth=18, norm="GN"),
        out_features=["res3", "res4", "res5"],
        freeze_at=0,
    ),
    in_features=["res3", "res4", "res5"],
    out_channels=FPN_CHANNELS,
    norm="GN",
    top_block=L(LastLevelP6P7)(
        in_channels=FPN_CHANNELS, out_channels=FPN_CHANNELS, in_feature="p5"
    ),
)

# Per-channel std of ImageNet in BGR order: inputs of a network trained from scratch should be
# normalized (Detectron2's default std of 1 assumes Caffe2-converted pretrained weights).
PIXEL_STD_FROM_SCRATCH = [57.375, 57.120, 58.395]

# RetinaNet's anchors for the embedded objects (smaller than COCO's at a third of the image
# size): from 16 px on P3 (stride 8), three scales per octave.
SHAPES_ANCHOR_SIZES = [[x, x * 2 ** (1.0 / 3), x * 2 ** (2.0 / 3)] for x in [16, 32, 64, 128, 256]]

# The from-scratch CPU recipes' backbones (make demo, make accuracy): a ResNet-18 layout at a
# quarter of its widths, BatchNorm (the recipes train with batches of 8), with an FPN of
# NARROW_FPN_CHANNELS either over res3-res5 with P6/P7 from P5 (FCOS, RetinaNet) or down to P2
# at stride 4 (CenterNet, CornerNet: FPNP2, the top-down pathway with skips from res2-res5).
NARROW_WIDTHS = [32, 64, 128, 256]
NARROW_FPN_CHANNELS = 64
narrow_resnet18 = L(ResNet)(
    stem=L(BasicStem)(in_channels=3, out_channels=NARROW_WIDTHS[0], norm="BN"),
    stages=L(narrow_resnet_stages)(widths=NARROW_WIDTHS, norm="BN"),
    out_features=["res2", "res3", "res4", "res5"],
    freeze_at=0,
)
narrow_resnet18_fpn_p3p7 = L(FPN)(
    bottom_up=copy.deepcopy(narrow_resnet18),
    in_features=["res3", "res4", "res5"],
    out_channels=NARROW_FPN_CHANNELS,
    norm="BN",
    top_block=L(LastLevelP6P7)(
        in_channels=NARROW_FPN_CHANNELS, out_channels=NARROW_FPN_CHANNELS, in_feature="p5"
    ),
)
narrow_resnet18_fpn_p3p7.bottom_up.out_features = ["res3", "res4", "res5"]
narrow_resnet18_fpn_p2 = L(FPNP2)(
    bottom_up=copy.deepcopy(narrow_resnet18),
    in_features=["res2", "res3", "res4", "res5"],
    out_channels=NARROW_FPN_CHANNELS,
    norm="BN",
)
