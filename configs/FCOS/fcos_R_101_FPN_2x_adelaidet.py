# AdelaiDet's FCOS_MS_R_101_2x (and _iou), for its converted weights: fcos_R_50_FPN_1x_adelaidet.py
# on ResNet-101 (its training schedule is not reproduced here: 2x, shorter side 640-800).
from .fcos_R_50_FPN_1x_adelaidet import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.depth = 101
