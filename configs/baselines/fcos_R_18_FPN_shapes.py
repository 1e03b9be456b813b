# Detectron2's built-in FCOS, CPU-sized (ResNet-18 + FPN with 128 channels, trained from
# scratch) on the embedded dataset, with the shared CPU budget.
from anchorfree.compat.detectron2_fixes import group_norm
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from detectron2 import model_zoo
from detectron2.layers import ShapeSpec

from ..common.data.shapes import dataloader
from ..common.models.cpu_backbone import FPN_CHANNELS, PIXEL_STD_FROM_SCRATCH, resnet18_fpn_p3p7
from ..common.shapes_cpu_budget import lr_multiplier, optimizer, train

model = model_zoo.get_config("common/models/fcos.py").model
model.backbone = resnet18_fpn_p3p7
model.head.input_shape = [ShapeSpec(channels=FPN_CHANNELS)] * 5
# Two tower convs instead of four: the head dominates CPU time at this backbone size.
model.head.conv_dims = [FPN_CHANNELS] * 2
# norm="GN" cannot build the head on Detectron2 v0.6 (see anchorfree.compat.detectron2_fixes).
model.head.norm = group_norm
model.num_classes = NUM_CLASSES
model.pixel_std = PIXEL_STD_FROM_SCRATCH
model.test_score_thresh = 0.05
