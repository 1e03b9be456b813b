# tianzhi0549/FCOS's FCOS_R_101_FPN_2x, for its converted weights:
# fcos_R_50_FPN_1x_tianzhi.py on ResNet-101
# (its training schedule is not reproduced here: 2x, shorter side from 640-800).
from .fcos_R_50_FPN_1x_tianzhi import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.depth = 101
