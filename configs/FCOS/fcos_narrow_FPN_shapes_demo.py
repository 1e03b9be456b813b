# FCOS (anchorfree.fcos) for the demo: configs/FCOS/fcos_narrow_FPN_shapes.py (a quarter-width
# ResNet-18 + FPN P3-P7, 64 channels, from scratch) on the demo difficulty of the embedded
# dataset (configs/common/shapes_demo.py).
import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from ..common.shapes_demo import dataloader, lr_multiplier, optimizer, train
from .fcos_narrow_FPN_shapes import model

# Images (256-320 px a side) are trained on with their shorter side at 224 (0.7-0.875x): an
# iteration costs about 30% less, which buys more iterations than the smaller input loses.
# Evaluation and prediction see them at 256 (0.8-1x), the same aspect-ratio cap: small objects
# keep more pixels there, and the cost is at test time only.
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=224, max_size=320),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.test.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=256, max_size=366)
]
# Channels-last convolution weights: faster training and inference on CPU, the same values up
# to float rounding (tools/benchmark.py --suite memory-format). The iterations it saves go to
# training longer (README, Results).
train.channels_last = True
# Batches of 4 instead of the recipe's 8, at a higher learning rate: an image costs about the
# same, so the same minutes make twice the updates, which is what training for minutes from
# scratch is short of (batches of 2 learn worse, likely from BatchNorm's statistics over 2
# images). README, Results.
dataloader.train.total_batch_size = 4
optimizer.lr = 3e-3
train.max_iter = 2600
train.eval_period = train.max_iter
