# CenterNet ResNet-18 (upsampling neck with deformable convs) on COCO with the settings of
# "Objects as Points" (Sec. 5): 512x512 inputs (random scale 0.6-1.3, crop, flip, colour
# jitter), batch 114, Adam at 5e-4, 140 epochs, LR x0.1 at epochs 90 and 120, no warm-up.
# The paper reports 28.1 AP for this model without test augmentation.
#
# The network is the original's resnet_dcn.py PoseResNet (experiments/ctdet_coco_resdcn18.sh),
# so that its released ctdet_coco_resdcn18.pth converts into it exactly
# (tools/convert_checkpoint.py --source centernet): its DCNs have a bias before their BN, and
# it sees what the original fed it: BGR images normalized with CenterNet's COCO mean and std
# (src/lib/datasets/dataset/coco.py, 0-1 pixels there, x255 here).
# Tested with the original's test pipeline (--keep_res: the image at its own resolution,
# centred on a canvas of (size | 31) + 1, zero pixels around it; common/original.py), trained
# with its target and loss conventions.
#
# Initialization: torchvision's ImageNet ResNet-18, converted with Detectron2's
# tools/convert-torchvision-to-d2.py (Detectron2 hosts no ResNet-18):
#   python convert-torchvision-to-d2.py resnet18-f37072fd.pth pretrained/torchvision_R-18.pkl
# (RGB weights fine-tuned on BGR inputs, as the original did.) Training stops with "checkpoint
# not found" until that file exists.
from ..common.optim import Adam as optimizer
from ..common.train import train
from .common.coco_512 import dataloader, epoch_schedule, epochs_to_iters
from .common.original import use_original_conventions, use_original_input, use_original_test
from .models.centernet import model

BATCH_SIZE = 114

model.backbone.conv_bias = True
use_original_input(model, dataloader)
use_original_test(model, dataloader)
use_original_conventions(model)

dataloader.train.total_batch_size = BATCH_SIZE
optimizer.lr = 5e-4
lr_multiplier = epoch_schedule(140, [90, 120], BATCH_SIZE)
train.max_iter = epochs_to_iters(140, BATCH_SIZE)
train.checkpointer.period = epochs_to_iters(10, BATCH_SIZE)
train.eval_period = epochs_to_iters(10, BATCH_SIZE)
train.init_checkpoint = "pretrained/torchvision_R-18.pkl"
