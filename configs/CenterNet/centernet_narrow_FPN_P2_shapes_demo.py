# CenterNet (anchorfree.centernet) for the demo: a quarter-width ResNet-18 + FPN P2 (stride 4,
# 64 channels: the top-down pathway with skip connections from res2-res5) from scratch on the
# demo difficulty of the embedded dataset (configs/common/shapes_demo.py).
from anchorfree.data.synthetic_shapes import NUM_CLASSES
from anchorfree.modeling.backbones.resnet_stride4 import FPNP2

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from ..common.models.cpu_backbone import PIXEL_STD_FROM_SCRATCH, narrow_resnet18
from ..common.shapes_demo import dataloader, lr_multiplier, optimizer, train
from .models.centernet import model

NECK_CHANNELS = 64

model.backbone = L(FPNP2)(
    bottom_up=narrow_resnet18,
    in_features=["res2", "res3", "res4", "res5"],
    out_channels=NECK_CHANNELS,
    norm="BN",
)
model.head.input_shape = [ShapeSpec(channels=NECK_CHANNELS)]
model.head.head_conv = NECK_CHANNELS
model.head_in_features = ["p2"]
model.num_classes = NUM_CLASSES
# The embedded images are BGR.
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = PIXEL_STD_FROM_SCRATCH
