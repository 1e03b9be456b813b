# CenterNet on ResNet-50 + FPN, keeping only P2 (stride 4, 256 channels), COCO 1x: Detectron2's
# standard R-50-FPN recipe (MSRA ImageNet weights, FrozenBN, shorter side 800, SGD at 0.01,
# batch 16, 90k iterations) with the CenterNet head (head_conv 256), targets, losses and
# decoding of the paper. Not a configuration of the paper: the seed of a like-for-like
# comparison with FCOS and RetinaNet R-50-FPN 1x.
from anchorfree.modeling.backbones.resnet_stride4 import FPNP2

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import BasicStem, ResNet

from ..common.data.coco import dataloader
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train
from .models.centernet import model

model.backbone = L(FPNP2)(
    bottom_up=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=64, norm="FrozenBN"),
        stages=L(ResNet.make_default_stages)(depth=50, stride_in_1x1=True, norm="FrozenBN"),
        out_features=["res2", "res3", "res4", "res5"],
        freeze_at=2,
    ),
    in_features="${.bottom_up.out_features}",
    out_channels=256,
)
model.head.input_shape = [ShapeSpec(channels=256)]
model.head.head_conv = 256
model.head_in_features = ["p2"]
# MSRA ImageNet weights: BGR input, std folded into conv1.
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = [1.0, 1.0, 1.0]

train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
