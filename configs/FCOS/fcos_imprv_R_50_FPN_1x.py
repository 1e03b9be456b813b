# FCOS R-50-FPN 1x on COCO with the improvements of arXiv:2006.09214 (38.7 AP in the original
# implementation): centerness on the regression branch, center sampling (radius 1.5),
# GIoU loss, and regression targets normalized by the stride. These are the defaults of
# configs/FCOS/models/fcos.py.
from ..common.data.coco import dataloader
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train
from .models.fcos import model

train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
