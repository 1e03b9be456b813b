# CenterNet ResNet-18 (upsampling neck with deformable convs) on COCO with the settings of
# "Objects as Points" (Sec. 5): 512x512 inputs (random scale 0.6-1.3, crop, flip, colour
# jitter), batch 114, Adam at 5e-4, 140 epochs, LR x0.1 at epochs 90 and 120, no warm-up.
# The paper reports 28.1 AP for this model without test augmentation.
#
# Initialization: torchvision's ImageNet ResNet-18, converted with Detectron2's
# tools/convert-torchvision-to-d2.py (Detectron2 hosts no ResNet-18):
#   python convert-torchvision-to-d2.py resnet18-f37072fd.pth pretrained/torchvision_R-18.pkl
# Training stops with "checkpoint not found" until that file exists.
from ..common.optim import Adam as optimizer
from ..common.train import train
from .common.coco_512 import dataloader, epoch_schedule, epochs_to_iters
from .models.centernet import model

BATCH_SIZE = 114

dataloader.train.total_batch_size = BATCH_SIZE
optimizer.lr = 5e-4
lr_multiplier = epoch_schedule(140, [90, 120], BATCH_SIZE)
train.max_iter = epochs_to_iters(140, BATCH_SIZE)
train.checkpointer.period = epochs_to_iters(10, BATCH_SIZE)
train.eval_period = epochs_to_iters(10, BATCH_SIZE)
train.init_checkpoint = "pretrained/torchvision_R-18.pkl"
