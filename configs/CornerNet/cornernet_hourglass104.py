# CornerNet Hourglass-104 on COCO with the settings of the paper (Law & Deng, ECCV 2018,
# Sec. 4.1): from scratch, 511x511 training crops (random scale 0.6-1.3, crop with padding,
# flip, colour jitter and PCA lighting), 128x128 output grid, batch 49, Adam at 2.5e-4 for
# 500k iterations with the LR x0.1 at 450k; tested at the original resolution (padded) with
# the mirror image too, soft-NMS, 100 detections. Paper: 42.2 AP (COCO test-dev).
import torch
from fvcore.common.param_scheduler import MultiStepParamScheduler

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.solver.build import get_default_optimizer_params

from ..common.data.coco import dataloader
from ..common.train import train
from .models.cornernet import model

INPUT_SIZE = 511

dataloader.train.total_batch_size = 49
dataloader.train.mapper.augmentations = [
    L(T.ResizeScale)(
        min_scale=0.6, max_scale=1.3, target_height=INPUT_SIZE, target_width=INPUT_SIZE
    ),
    # A random 511x511 window, padded where the scaled image is smaller.
    L(T.FixedSizeCrop)(crop_size=(INPUT_SIZE, INPUT_SIZE)),
    L(T.RandomFlip)(horizontal=True),
    L(T.RandomBrightness)(intensity_min=0.6, intensity_max=1.4),
    L(T.RandomContrast)(intensity_min=0.6, intensity_max=1.4),
    L(T.RandomSaturation)(intensity_min=0.6, intensity_max=1.4),
    L(T.RandomLighting)(scale=0.1),
]
# The original resolution, padded to the hourglass's size divisibility (128).
dataloader.test.mapper.augmentations = []

optimizer = L(torch.optim.Adam)(
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0),
    lr=2.5e-4,
    weight_decay=0.0,
)
train.max_iter = 500000
lr_multiplier = L(MultiStepParamScheduler)(
    values=[1.0, 0.1], milestones=[450000], num_updates=train.max_iter
)
train.checkpointer.period = 10000
train.eval_period = 50000
