# Ablation of configs/CenterNet/centernet_narrow_FPN_P2_shapes.py: the same backbone, head, data
# and recipe with the paper's upsampling neck instead of FPN P2 (res5 alone, at stride 32,
# brought back to stride 4 by three conv + deconv stages, with no skip connections).
from anchorfree.modeling.backbones.resnet_stride4 import UpsamplingNeck

from detectron2.config import LazyCall as L

from ..common.models.cpu_backbone import NARROW_FPN_CHANNELS
from .centernet_narrow_FPN_P2_shapes import dataloader, lr_multiplier, model, optimizer, train

model.backbone = L(UpsamplingNeck)(
    bottom_up=model.backbone.bottom_up,
    in_feature="res5",
    channels=[128, NARROW_FPN_CHANNELS, NARROW_FPN_CHANNELS],
    deformable=False,
    norm="BN",
)
model.backbone.bottom_up.out_features = ["res5"]
model.head_in_features = ["up4"]
