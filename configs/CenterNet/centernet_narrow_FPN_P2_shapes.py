# CenterNet (anchorfree.centernet) for the time-to-accuracy comparison (make accuracy): a
# quarter-width ResNet-18 + FPN P2 (stride 4, 64 channels: the top-down pathway with skip
# connections from res2-res5) from scratch on the standard difficulty of the embedded dataset
# (configs/common/shapes_accuracy.py).
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from detectron2.layers import ShapeSpec

from ..common.models.cpu_backbone import (
    NARROW_FPN_CHANNELS,
    PIXEL_STD_FROM_SCRATCH,
)
from ..common.models.cpu_backbone import (
    narrow_resnet18_fpn_p2 as _backbone,
)
from ..common.shapes_accuracy import dataloader, lr_multiplier, optimizer, train
from .models.centernet import model

# (_backbone: an underscored name is not a key of the config.)
model.backbone = _backbone
model.head.input_shape = [ShapeSpec(channels=NARROW_FPN_CHANNELS)]
model.head.head_conv = NARROW_FPN_CHANNELS
model.head_in_features = ["p2"]
model.num_classes = NUM_CLASSES
# The embedded images are BGR.
model.pixel_mean = [103.530, 116.280, 123.675]
model.pixel_std = PIXEL_STD_FROM_SCRATCH
