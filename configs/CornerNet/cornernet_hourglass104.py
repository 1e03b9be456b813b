# CornerNet Hourglass-104 on COCO with the settings of the paper (Law & Deng, ECCV 2018,
# Sec. 4.1): from scratch, 511x511 training crops (random scale 0.6-1.3, crop with padding,
# flip, colour jitter and PCA lighting), 128x128 output grid, batch 49, Adam at 2.5e-4 for
# 500k iterations with the LR x0.1 at 450k; tested at the original resolution (padded) with
# the mirror image too, soft-NMS, 100 detections. Paper: 42.2 AP (COCO test-dev).
#
# The model of CornerNet's released weights (tools/convert_checkpoint.py --source cornernet),
# with the original's input (BGR, its COCO statistics), test pipeline (test/coco.py
# kp_detection: padded to h | 127, flip, soft-NMS as external/nms.pyx; use_original_test(...,
# multi_scale=True) for its multi-scale figures) and training conventions (common/original.py).
from fvcore.common.param_scheduler import MultiStepParamScheduler

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from ..common.data.coco import dataloader, scale_crop_flip_jitter
from ..common.optim import Adam as optimizer
from ..common.train import train
from .common.original import use_original_conventions, use_original_input, use_original_test
from .models.cornernet import model

INPUT_SIZE = 511
use_original_input(model, dataloader)

dataloader.train.total_batch_size = 49
# A random 511x511 window (padded where the scaled image is smaller), then PCA lighting.
dataloader.train.mapper.augmentations = scale_crop_flip_jitter(INPUT_SIZE) + [
    L(T.RandomLighting)(scale=0.1)
]
use_original_test(model, dataloader)
use_original_conventions(model)

optimizer.lr = 2.5e-4
train.max_iter = 500000
lr_multiplier = L(MultiStepParamScheduler)(
    values=[1.0, 0.1], milestones=[450000], num_updates=train.max_iter
)
train.checkpointer.period = 10000
train.eval_period = 50000
