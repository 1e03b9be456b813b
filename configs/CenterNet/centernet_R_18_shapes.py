# CenterNet CPU-sized on the embedded dataset: ResNet-18 + the upsampling neck (256/128/64,
# regular 3x3 convs instead of deformable ones, which are slow on CPU), GroupNorm throughout so
# that it trains from scratch with small batches (nothing is fetched), images at their own size,
# and the short training budget of configs/common/shapes_cpu_budget.py (as the other
# *_R_18_*_shapes.py configs), with the paper's Adam (1e-3) instead of the budget's SGD: SGD at
# 0.02 did not move the heatmap loss in 600 iterations (AP 0.00).
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from ..common.data.shapes import dataloader
from ..common.models.cpu_backbone import PIXEL_STD_FROM_SCRATCH
from ..common.optim import Adam as optimizer
from ..common.shapes_cpu_budget import lr_multiplier, train
from .models.centernet import model

model.backbone.bottom_up.stem.norm = "GN"
model.backbone.bottom_up.stages.norm = "GN"
model.backbone.deformable = False
model.backbone.norm = "GN"
model.num_classes = NUM_CLASSES
# The embedded images are BGR.
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = PIXEL_STD_FROM_SCRATCH
