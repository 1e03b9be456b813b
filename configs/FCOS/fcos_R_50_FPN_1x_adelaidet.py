# AdelaiDet's FCOS_R_50_1x (38.7 AP; also FCOS_MS_R_50_2x and the *_iou models, whose box
# quality branch only trains differently), for its converted weights
# (tools/convert_checkpoint.py --source fcos-adelaidet): the model of fcos_imprv_R_50_FPN_1x.py,
# whose test pipeline is AdelaiDet's (Detectron2's), with its conventions: NMS on the boxes
# as decoded (clipped after), IoU loss (I + 1) / (U + 1).
from .fcos_imprv_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.postprocessor.clip_before_nms = False
model.iou_smoothing = 1.0
