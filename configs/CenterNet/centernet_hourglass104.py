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
# centernet): like CornerNet, BGR input normalized by CenterNet's COCO statistics.
from detectron2.layers import ShapeSpec

from ..common.models.hourglass104 import hourglass104
from ..common.optim import Adam as optimizer
from ..common.train import train
from .common.coco_512 import dataloader, epoch_schedule, epochs_to_iters
from .models.centernet import model

BATCH_SIZE = 29

model.backbone = hourglass104
# CenterNet's COCO statistics (src/lib/datasets/dataset/coco.py: BGR, on [0, 1] pixel
# values), on [0, 255].
dataloader.train.mapper.image_format = "BGR"
model.pixel_mean = [255 * m for m in (0.40789654, 0.44719302, 0.47026115)]
model.pixel_std = [255 * s for s in (0.28863828, 0.27408164, 0.27809835)]
model.head.input_shape = [ShapeSpec(channels=256)] * 2
model.head.head_conv = 256
model.head_in_features = ["hg1", "hg2"]

dataloader.train.total_batch_size = BATCH_SIZE
optimizer.lr = 2.5e-4
lr_multiplier = epoch_schedule(50, [40], BATCH_SIZE)
train.max_iter = epochs_to_iters(50, BATCH_SIZE)
train.checkpointer.period = epochs_to_iters(5, BATCH_SIZE)
train.eval_period = epochs_to_iters(5, BATCH_SIZE)
