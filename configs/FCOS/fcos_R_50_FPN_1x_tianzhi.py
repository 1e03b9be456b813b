# tianzhi0549/FCOS's FCOS_R_50_FPN_1x (the FCOS paper's settings, 37.1 AP), for its converted
# weights (tools/convert_checkpoint.py --source fcos-tianzhi ... --config-file this file): the
# model of fcos_R_50_FPN_1x.py with the original's test pipeline and conventions, as
# fcos_imprv_R_50_FPN_1x_tianzhi.py.
from .fcos_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.pixel_mean = [102.9801, 115.9465, 122.7717]
model.postprocessor.pixel_offset = 1
model.iou_smoothing = 1.0
model.target_generator.area_offset = 1.0
