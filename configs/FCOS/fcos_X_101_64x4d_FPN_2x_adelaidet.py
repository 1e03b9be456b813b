# AdelaiDet's FCOS_MS_X_101_64x4d_2x, for its converted weights: fcos_R_50_FPN_1x_adelaidet.py
# on ResNeXt-101 64x4d (stride on the 3x3 convs; its training schedule is not reproduced here).
from anchorfree.modeling.backbones.resnext import bottleneck_stages

from detectron2.config import LazyCall as L

from .fcos_R_50_FPN_1x_adelaidet import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages = L(bottleneck_stages)(
    depth=101, num_groups=64, width_per_group=4, stride_in_1x1=False, norm="FrozenBN"
)
