# mmdetection's fcos_center-normbbox-centeronreg-giou_r50_caffe_fpn_gn-head_1x_coco, for its
# converted weights (--source mmdet ... --config-file this file): the model of
# fcos_imprv_R_50_FPN_1x.py with mmdetection's input and NMS, as fcos_R_50_FPN_1x_mmdet.py.
from .fcos_imprv_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.pixel_mean = [102.9801, 115.9465, 122.7717]
model.postprocessor.nms_thresh = 0.5
