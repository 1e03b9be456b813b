# mmdetection's fcos_r101_caffe_fpn_gn-head 1x/2x models, for their converted weights:
# fcos_R_50_FPN_1x_mmdet.py on ResNet-101.
from .fcos_R_50_FPN_1x_mmdet import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.stages.depth = 101
