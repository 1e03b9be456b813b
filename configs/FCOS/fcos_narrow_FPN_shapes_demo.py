# FCOS (anchorfree.fcos) for the demo: a quarter-width ResNet-18 + FPN (P3-P7, 64 channels)
# from scratch on the demo difficulty of the embedded dataset (configs/common/shapes_demo.py).
from anchorfree.data.synthetic_shapes import NUM_CLASSES

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import FPN
from detectron2.modeling.backbone.fpn import LastLevelP6P7

from ..common.models.cpu_backbone import PIXEL_STD_FROM_SCRATCH, narrow_resnet18
from ..common.shapes_demo import dataloader, lr_multiplier, optimizer, train
from .models.fcos import model

FPN_CHANNELS = 64

model.backbone = L(FPN)(
    bottom_up=narrow_resnet18,
    in_features=["res3", "res4", "res5"],
    out_channels=FPN_CHANNELS,
    norm="BN",
    top_block=L(LastLevelP6P7)(
        in_channels=FPN_CHANNELS, out_channels=FPN_CHANNELS, in_feature="p5"
    ),
)
model.backbone.bottom_up.out_features = ["res3", "res4", "res5"]
model.head.input_shape = [ShapeSpec(channels=FPN_CHANNELS)] * 5
model.head.conv_dims = [FPN_CHANNELS] * 2
model.num_classes = NUM_CLASSES
model.pixel_std = PIXEL_STD_FROM_SCRATCH

# Images (256-320 px a side) are used with their shorter side at 224 (0.7-0.875x): an iteration
# costs about 30% less, which buys more iterations than the smaller input loses.
resize = L(T.ResizeShortestEdge)(short_edge_length=224, max_size=320)
dataloader.train.mapper.augmentations = [resize, L(T.RandomFlip)(horizontal=True)]
dataloader.test.mapper.augmentations = [resize]
