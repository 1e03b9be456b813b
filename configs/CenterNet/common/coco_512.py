# COCO for CenterNet as in "Objects as Points" (Sec. 5): 512x512 training crops (random scale
# 0.6-1.3, crop, flip, colour jitter), RGB input, test images with the longer side at 512, and
# epoch-based schedules (LR x0.1 at each drop epoch, no warm-up). Leaf configs set the batch
# size, the LR of configs/common/optim.py's Adam, and call the schedule helpers.
from fvcore.common.param_scheduler import MultiStepParamScheduler

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from ...common.data.coco import dataloader, scale_crop_flip_jitter

INPUT_SIZE = 512
# All of train2017: images without objects are kept (they train the heatmap negatives).
COCO_TRAIN_IMAGES = 118287

dataloader.train.dataset.filter_empty = False
dataloader.train.mapper.image_format = "RGB"
dataloader.train.mapper.augmentations = scale_crop_flip_jitter(INPUT_SIZE)
# Longer side at 512 (then padded to the backbone's size divisibility).
TEST_AUGMENTATIONS = [L(T.ResizeShortestEdge)(short_edge_length=INPUT_SIZE, max_size=INPUT_SIZE)]
dataloader.test.mapper.augmentations = TEST_AUGMENTATIONS


def epochs_to_iters(epochs: float, batch_size: int) -> int:
    return round(epochs * COCO_TRAIN_IMAGES / batch_size)


def epoch_schedule(epochs: int, drop_epochs, batch_size: int):
    """LR x1, then x0.1 after each epoch of ``drop_epochs``, over ``epochs`` epochs."""
    return L(MultiStepParamScheduler)(
        values=[10.0**-i for i in range(len(drop_epochs) + 1)],
        milestones=[epochs_to_iters(e, batch_size) for e in drop_epochs],
        num_updates=epochs_to_iters(epochs, batch_size),
    )
