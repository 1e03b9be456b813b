# tianzhi0549/FCOS's FCOS_imprv_R_50_FPN_1x (38.7 AP), for its converted weights
# (tools/convert_checkpoint.py --source fcos-tianzhi): the model of fcos_imprv_R_50_FPN_1x.py
# with the original's test pipeline (BGR, its mean, std 1; 800/1333 as ours) and conventions:
# maskrcnn-benchmark pixels (clip to size - 1, NMS areas (w + 1)(h + 1)), IoU loss
# (I + 1) / (U + 1), ambiguous points to the box of least (w + 1)(h + 1).
from .fcos_imprv_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.pixel_mean = [102.9801, 115.9465, 122.7717]
model.postprocessor.pixel_offset = 1
model.iou_smoothing = 1.0
model.target_generator.area_offset = 1.0
