# FCOS R-50-FPN 1x on COCO with the settings of the FCOS paper (ICCV 2019): centerness on the
# classification branch, no center sampling, -log(IoU) loss, box targets in pixels (exp output).
# See fcos_imprv_R_50_FPN_1x.py for the improved version.
from ..common.data.coco import dataloader
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train
from .models.fcos import model

model.head.centerness_on_reg = False
model.head.norm_reg_targets = False
model.target_generator.center_sampling_radius = 0.0
model.box_loss_type = "iou"

train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
