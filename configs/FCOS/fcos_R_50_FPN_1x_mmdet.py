# mmdetection's fcos_r50_caffe_fpn_gn-head_1x_coco (the FCOS paper's head: centerness on the
# classification branch, exp box output), for its converted weights
# (tools/convert_checkpoint.py --source mmdet): the model of fcos_R_50_FPN_1x.py with
# mmdetection's caffe-style input (BGR, mean 102.98/115.95/122.77, std 1) and its NMS
# threshold 0.5. Its other test-time choices are not reproduced: see
# projects/anchorfree/fcos/README.md.
from .fcos_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.pixel_mean = [102.9801, 115.9465, 122.7717]
model.postprocessor.nms_thresh = 0.5
