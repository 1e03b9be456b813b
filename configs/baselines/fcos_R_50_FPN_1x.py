# Detectron2's built-in FCOS R-50-FPN 1x on COCO (its model-zoo settings), our data pipeline.
from anchorfree.compat.detectron2_fixes import group_norm

from detectron2 import model_zoo

from ..common.data.coco import dataloader
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train

model = model_zoo.get_config("common/models/fcos.py").model
# norm="GN" cannot build the head on Detectron2 v0.6 (see anchorfree.compat.detectron2_fixes).
model.head.norm = group_norm
model.backbone.bottom_up.freeze_at = 2
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
