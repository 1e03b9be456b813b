# Detectron2's built-in RetinaNet R-50-FPN 1x on COCO (its model-zoo settings), our data pipeline.
from detectron2 import model_zoo

from ..common.data.coco import dataloader
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train

model = model_zoo.get_config("common/models/retinanet.py").model
model.backbone.bottom_up.freeze_at = 2
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
