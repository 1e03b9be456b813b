# CornerNet (anchorfree.cornernet) for the time-to-accuracy comparison (make accuracy): the
# backbone of configs/CenterNet/centernet_narrow_FPN_P2_shapes.py (a quarter-width ResNet-18 +
# FPN P2, stride 4, 64 channels) with one corner-pooling head (32-channel pooled and prediction
# branches), from scratch on the standard difficulty of the embedded dataset
# (configs/common/shapes_accuracy.py).
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from ..common.models.cpu_backbone import PIXEL_STD_FROM_SCRATCH
from ..common.models.cpu_backbone import narrow_resnet18_fpn_p2 as _backbone
from ..common.shapes_accuracy import dataloader, lr_multiplier, optimizer, train
from .models.cornernet import model

# (_backbone: an underscored name is not a key of the config.)
model.backbone = _backbone
model.head_in_features = ["p2"]
model.heads = model.heads[:1]
model.heads[0].pool_channels = 32
model.heads[0].branch_channels = 32
model.num_classes = NUM_CLASSES
model.flip_test = False
model.pixel_std = PIXEL_STD_FROM_SCRATCH
