# CornerNet CPU-sized on the embedded dataset: a small Hourglass (1 stack, 3 downsamplings,
# 64-128 channels), a narrow head (64-channel features, 32-channel pooled branches and
# prediction branches), GroupNorm throughout so that it trains from scratch with small batches,
# images at their own size, and the training budget of configs/common/shapes_cpu_budget.py
# (iterations, batch, schedule) of the *_R_18_*_shapes.py configs. The
# optimizer is the paper's Adam instead of the budget's SGD: over-fitting 4 embedded images for
# 40 iterations, SGD at 0.02 stayed below 6 AP50; Adam at 1e-3 reached 97 after 30.
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from ..common.data.shapes import dataloader
from ..common.models.cpu_backbone import PIXEL_STD_FROM_SCRATCH
from ..common.optim import Adam as optimizer
from ..common.shapes_cpu_budget import lr_multiplier, train
from .models.cornernet import model

FEATURE_CHANNELS = 64

model.backbone.num_stacks = 1
model.backbone.depth = 3
model.backbone.stem_channels = 32
model.backbone.widths = [FEATURE_CHANNELS, FEATURE_CHANNELS, 96, 128]
model.backbone.blocks = [1, 1, 1, 2]
model.backbone.out_channels = FEATURE_CHANNELS
model.backbone.norm = "GN"
model.head_in_features = ["hg1"]
model.heads = model.heads[:1]
model.heads[0].pool_channels = 32
model.heads[0].branch_channels = 32
model.heads[0].norm = "GN"
model.num_classes = NUM_CLASSES
model.flip_test = False
model.pixel_std = PIXEL_STD_FROM_SCRATCH
