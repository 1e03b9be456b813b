# FCOS (anchorfree.fcos) for the time-to-accuracy comparison (make accuracy): a quarter-width
# ResNet-18 + FPN (P3-P7, 64 channels, BatchNorm), a 2-conv GN head, from scratch on the standard
# difficulty of the embedded dataset (configs/common/shapes_accuracy.py).
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from detectron2.layers import ShapeSpec

from ..common.models.cpu_backbone import (
    NARROW_FPN_CHANNELS,
    PIXEL_STD_FROM_SCRATCH,
)
from ..common.models.cpu_backbone import (
    narrow_resnet18_fpn_p3p7 as _backbone,
)
from ..common.shapes_accuracy import dataloader, lr_multiplier, optimizer, train
from .models.fcos import model

# (_backbone: an underscored name is not a key of the config.)
model.backbone = _backbone
model.head.input_shape = [ShapeSpec(channels=NARROW_FPN_CHANNELS)] * 5
# Two tower convs instead of four: the head dominates CPU time at this backbone size.
model.head.conv_dims = [NARROW_FPN_CHANNELS] * 2
model.num_classes = NUM_CLASSES
model.pixel_std = PIXEL_STD_FROM_SCRATCH
