# CenterNet on Hourglass-104 (2 stacks, both supervised, the last decoded) on COCO with the
# settings of "Objects as Points" (Sec. 5): 512x512 inputs, batch 29, Adam at 2.5e-4, 50 epochs,
# LR x0.1 at epoch 40; head_conv 256. The paper reports 40.3 AP (42.2 with flip test).
#
# Initialization: the paper fine-tunes from ExtremeNet's Hourglass-104, which is not available
# in Detectron2's format; this config starts from scratch (train.init_checkpoint = ""), for
# which 50 epochs are far too few (CornerNet trained its Hourglass-104 for 500k iterations at
# batch 49, about 207 epochs).
#
# The model of CenterNet's released ctdet_coco_hg weights (tools/convert_checkpoint.py --source
# centernet), with the original's input (BGR, its COCO statistics), test pipeline (--keep_res,
# pad 127) and training conventions (common/original.py).
from detectron2.layers import ShapeSpec

from ..common.models.hourglass104 import hourglass104
from ..common.optim import Adam as optimizer
from ..common.train import train
from .common.coco_512 import dataloader, epoch_schedule, epochs_to_iters
from .common.original import use_original_conventions, use_original_input, use_original_test
from .models.centernet import model

BATCH_SIZE = 29

model.backbone = hourglass104
use_original_input(model, dataloader)
use_original_test(model, dataloader, pad=127)
use_original_conventions(model)
model.head.input_shape = [ShapeSpec(channels=256)] * 2
model.head.head_conv = 256
model.head_in_features = ["hg1", "hg2"]

dataloader.train.total_batch_size = BATCH_SIZE
optimizer.lr = 2.5e-4
lr_multiplier = epoch_schedule(50, [40], BATCH_SIZE)
train.max_iter = epochs_to_iters(50, BATCH_SIZE)
train.checkpointer.period = epochs_to_iters(5, BATCH_SIZE)
train.eval_period = epochs_to_iters(5, BATCH_SIZE)
