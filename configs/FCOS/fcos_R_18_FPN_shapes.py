# FCOS (anchorfree.fcos, improved settings) CPU-sized on the embedded dataset: the same backbone
# (ResNet-18 + FPN at 128 channels, GroupNorm, from scratch), input, head width and depth
# (2 tower convs), data and training budget as configs/baselines/fcos_R_18_FPN_shapes.py
# (Detectron2's FCOS), for a like-for-like comparison.
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from detectron2.layers import ShapeSpec

from ..common.data.shapes import dataloader
from ..common.models.cpu_backbone import FPN_CHANNELS, PIXEL_STD_FROM_SCRATCH, resnet18_fpn_p3p7
from ..common.shapes_cpu_budget import lr_multiplier, optimizer, train
from .models.fcos import model

model.backbone = resnet18_fpn_p3p7
model.head.input_shape = [ShapeSpec(channels=FPN_CHANNELS)] * 5
# Two tower convs instead of four: the head dominates CPU time at this backbone size.
model.head.conv_dims = [FPN_CHANNELS] * 2
model.num_classes = NUM_CLASSES
model.pixel_std = PIXEL_STD_FROM_SCRATCH
