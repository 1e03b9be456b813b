# Detectron2's built-in RetinaNet, CPU-sized (ResNet-18 + FPN with 128 channels, trained from
# scratch) on the embedded dataset: the anchor-based reference at the same budget as FCOS.
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from detectron2 import model_zoo
from detectron2.layers import ShapeSpec

from ..common.data.shapes import dataloader
from ..common.models.cpu_backbone import (
    FPN_CHANNELS,
    PIXEL_STD_FROM_SCRATCH,
    SHAPES_ANCHOR_SIZES,
    resnet18_fpn_p3p7,
)
from ..common.shapes_cpu_budget import lr_multiplier, optimizer, train

model = model_zoo.get_config("common/models/retinanet.py").model
model.backbone = resnet18_fpn_p3p7
model.head.input_shape = [ShapeSpec(channels=FPN_CHANNELS)] * 5
# Two tower convs instead of four: the head dominates CPU time at this backbone size.
model.head.conv_dims = [FPN_CHANNELS] * 2
model.num_classes = NUM_CLASSES
model.pixel_std = PIXEL_STD_FROM_SCRATCH
model.anchor_generator.sizes = SHAPES_ANCHOR_SIZES
