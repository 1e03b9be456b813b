# CornerNet Hourglass-104 on COCO with the settings of the paper (Law & Deng, ECCV 2018,
# Sec. 4.1): from scratch, 511x511 training crops (random scale 0.6-1.3, crop with padding,
# flip, colour jitter and PCA lighting), 128x128 output grid, batch 49, Adam at 2.5e-4 for
# 500k iterations with the LR x0.1 at 450k; tested at the original resolution (padded) with
# the mirror image too, soft-NMS, 100 detections. Paper: 42.2 AP (COCO test-dev).
#
# The model of CornerNet's released weights (tools/convert_checkpoint.py --source cornernet):
# BGR input normalized by CornerNet's COCO statistics.
from fvcore.common.param_scheduler import MultiStepParamScheduler

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from ..common.data.coco import dataloader, scale_crop_flip_jitter
from ..common.optim import Adam as optimizer
from ..common.train import train
from .models.cornernet import model

INPUT_SIZE = 511
# CornerNet's COCO statistics (db/coco.py: BGR, on [0, 1] pixel values), on [0, 255].
model.pixel_mean = [255 * m for m in (0.40789654, 0.44719302, 0.47026115)]
model.pixel_std = [255 * s for s in (0.28863828, 0.27408164, 0.27809835)]

dataloader.train.total_batch_size = 49
# A random 511x511 window (padded where the scaled image is smaller), then PCA lighting.
dataloader.train.mapper.augmentations = scale_crop_flip_jitter(INPUT_SIZE) + [
    L(T.RandomLighting)(scale=0.1)
]
# The original resolution, padded to the hourglass's size divisibility (128).
dataloader.test.mapper.augmentations = []

optimizer.lr = 2.5e-4
train.max_iter = 500000
lr_multiplier = L(MultiStepParamScheduler)(
    values=[1.0, 0.1], milestones=[450000], num_updates=train.max_iter
)
train.checkpointer.period = 10000
train.eval_period = 50000
