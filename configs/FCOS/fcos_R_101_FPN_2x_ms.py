# FCOS R-101-FPN, 2x schedule, multi-scale training (shorter side drawn from [640, 800]), with
# the FCOS paper settings of fcos_R_50_FPN_1x.py.
import detectron2.data.transforms as T
from detectron2.config import LazyCall as L

from ..common.schedules import lr_multiplier_2x as lr_multiplier
from .fcos_R_50_FPN_1x import dataloader, model, optimizer, train

model.backbone.bottom_up.stages.depth = 101
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=(640, 800), max_size=1333, sample_style="range"),
    L(T.RandomFlip)(horizontal=True),
]
train.max_iter = 180000
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
