# Detectron2's built-in RetinaNet for the time-to-accuracy comparison (make accuracy): the
# anchor-based reference on the backbone, head width and depth, data and recipe of
# configs/FCOS/fcos_narrow_FPN_shapes.py.
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from detectron2 import model_zoo
from detectron2.layers import ShapeSpec

from ..common.models.cpu_backbone import (
    NARROW_FPN_CHANNELS,
    PIXEL_STD_FROM_SCRATCH,
    SHAPES_ANCHOR_SIZES,
)
from ..common.models.cpu_backbone import (
    narrow_resnet18_fpn_p3p7 as _backbone,
)
from ..common.shapes_accuracy import dataloader, lr_multiplier, optimizer, train

model = model_zoo.get_config("common/models/retinanet.py").model
# (_backbone: an underscored name is not a key of the config.)
model.backbone = _backbone
model.head.input_shape = [ShapeSpec(channels=NARROW_FPN_CHANNELS)] * 5
model.head.conv_dims = [NARROW_FPN_CHANNELS] * 2
model.num_classes = NUM_CLASSES
model.pixel_std = PIXEL_STD_FROM_SCRATCH
model.anchor_generator.sizes = SHAPES_ANCHOR_SIZES
