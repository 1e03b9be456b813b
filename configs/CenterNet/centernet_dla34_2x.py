# CenterNet on DLA-34 (DLAUp/IDAUp neck with deformable convs, stride 4, head_conv 256) on COCO
# (80 classes) with the settings of xingyizhou/CenterNet's experiments/ctdet_coco_dla_2x.sh and
# opts.py: 512x512 inputs (random scale 0.6-1.3, crop, flip, colour jitter), batch 128, Adam at
# 5e-4, 230 epochs, LR x0.1 at epochs 180 and 210, no warm-up. BGR input normalized by
# CenterNet's COCO statistics, as the original. Published (MODEL_ZOO, ctdet_coco_dla_2x,
# COCO val2017): 37.4 AP, 39.2 with flip test, 41.7 multi-scale (0.5-1.5, flip).
#
# Weights: the released model converted (every key accounted for, checked against this config):
#   python tools/convert_checkpoint.py --source centernet ctdet_coco_dla_2x.pth \
#       pretrained/centernet_dla34_2x.pth
#   python train_net.py --config-file configs/CenterNet/centernet_dla34_2x.py --eval-only \
#       train.init_checkpoint=pretrained/centernet_dla34_2x.pth
# ctdet_coco_dla_1x.pth (140 epochs, 36.3 AP) converts the same way and fits this model too.
# Training, input and test follow the original's conventions (common/original.py): its BGR
# input statistics, its test pipeline (--keep_res, pad 31; model.flip_test=True and
# model.test_scales=[0.5,0.75,1,1.25,1.5] for its flip and multi-scale figures) and its
# target and loss conventions.
#
# Initialization for training: the original fine-tunes from ImageNet DLA-34 (dl.yf.io), which
# is not converted here; this config trains from scratch (train.init_checkpoint = "").
from detectron2.layers import ShapeSpec

from ..common.models.dla34 import dla34
from ..common.optim import Adam as optimizer
from ..common.train import train
from .common.coco_512 import dataloader, epoch_schedule, epochs_to_iters
from .common.original import use_original_conventions, use_original_input, use_original_test
from .models.centernet import model

BATCH_SIZE = 128

model.backbone = dla34
model.head.input_shape = [ShapeSpec(channels=64)]
model.head.head_conv = 256
model.head_in_features = ["ida4"]
use_original_input(model, dataloader)
use_original_test(model, dataloader)
use_original_conventions(model)

dataloader.train.total_batch_size = BATCH_SIZE
optimizer.lr = 5e-4
lr_multiplier = epoch_schedule(230, [180, 210], BATCH_SIZE)
train.max_iter = epochs_to_iters(230, BATCH_SIZE)
train.checkpointer.period = epochs_to_iters(10, BATCH_SIZE)
train.eval_period = epochs_to_iters(10, BATCH_SIZE)
train.init_checkpoint = ""
