# Detectron2's built-in FCOS for the time-to-accuracy comparison (make accuracy): the backbone,
# head width and depth, data and recipe of configs/FCOS/fcos_narrow_FPN_shapes.py (our FCOS).
from anchorfree.compat.detectron2_fixes import group_norm
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from detectron2 import model_zoo
from detectron2.layers import ShapeSpec

from ..common.models.cpu_backbone import (
    NARROW_FPN_CHANNELS,
    PIXEL_STD_FROM_SCRATCH,
)
from ..common.models.cpu_backbone import (
    narrow_resnet18_fpn_p3p7 as _backbone,
)
from ..common.shapes_accuracy import dataloader, lr_multiplier, optimizer, train

model = model_zoo.get_config("common/models/fcos.py").model
# (_backbone: an underscored name is not a key of the config.)
model.backbone = _backbone
model.head.input_shape = [ShapeSpec(channels=NARROW_FPN_CHANNELS)] * 5
# Two tower convs instead of four, as ours.
model.head.conv_dims = [NARROW_FPN_CHANNELS] * 2
# norm="GN" cannot build the head on Detectron2 v0.6 (see anchorfree.compat.detectron2_fixes).
model.head.norm = group_norm
model.num_classes = NUM_CLASSES
model.pixel_std = PIXEL_STD_FROM_SCRATCH
model.test_score_thresh = 0.05
