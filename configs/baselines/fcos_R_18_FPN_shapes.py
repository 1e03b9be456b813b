# Detectron2's built-in FCOS, CPU-sized (ResNet-18 + FPN with 128 channels, trained from
# scratch) on the embedded dataset. About 8 minutes on 2 CPU cores.
from anchorfree.compat.detectron2_fixes import group_norm
from anchorfree.data.synthetic_shapes import NUM_CLASSES
from detectron2 import model_zoo
from detectron2.layers import ShapeSpec

from ..common.data.shapes import dataloader
from ..common.models.cpu_backbone import FPN_CHANNELS, PIXEL_STD_FROM_SCRATCH, resnet18_fpn_p3p7
from ..common.optim import SGD as optimizer
from ..common.schedules import step_schedule
from ..common.train import train

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

train.max_iter = 300
train.eval_period = train.max_iter
train.checkpointer.period = 100
train.log_period = 20
train.device = "cpu"
optimizer.lr = 0.01
lr_multiplier = step_schedule(train.max_iter, steps_fraction=(0.75, 0.9), warmup_iters=50)
