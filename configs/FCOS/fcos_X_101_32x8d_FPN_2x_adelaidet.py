# AdelaiDet's FCOS_MS_X_101_32x8d_2x, for its converted weights: fcos_R_50_FPN_1x_adelaidet.py
# on ResNeXt-101 32x8d (stride on the 3x3 convs; its training schedule is not reproduced here).
from anchorfree.modeling.backbones.resnext import bottleneck_stages

from detectron2.config import LazyCall as L

from .fcos_R_50_FPN_1x_adelaidet import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages = L(bottleneck_stages)(
    depth=101, num_groups=32, width_per_group=8, stride_in_1x1=False, norm="FrozenBN"
)
# Detectron2's FAIR ResNeXt-101 32x8d ImageNet weights take standardized input.
model.pixel_std = [57.375, 57.120, 58.395]
