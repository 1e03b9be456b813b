# CenterNet ResNet-18 with deformable convs as mmdetection (v2.x) builds it,
# configs/centernet/centernet_resnet18_dcnv2_140e_coco.py: the config of its released
# checkpoint converted with tools/convert_checkpoint.py --source mmdet. The network is
# centernet_R_18_140e.py's (ResNet-18, CTResNetNeck = the upsampling neck, CenterNetHead with
# feat_channel 64) with mmdetection's conventions:
# * no bias in the 3x3 (deformable) convs: mmcv's ConvModule leaves it out before a BN;
# * RGB input normalized with its img_norm_cfg, mean [123.675, 116.28, 103.53] and std
#   [58.395, 57.12, 57.375] in 0-255 pixels (to_rgb=True; torchvision's ImageNet statistics).
# Its test pipeline is not reproduced here: mmdetection tests each image at its own size
# (MultiScaleFlipAug scale_factor 1.0), centred by RandomCenterCropPad (test mode) on a canvas of
# (size | 31) + 1 filled with zero pixels before normalization, and shifts the boxes back by
# that border; it decodes the top 100 of all (class, cell) scores after a 3x3 max-pool, without
# clamping negative sizes or clipping boxes. This config tests with the longer side at 512,
# padded right and bottom (see projects/anchorfree/centernet/README.md).
# Training settings are centernet_R_18_140e.py's (the paper's Adam at 5e-4, batch 114);
# mmdetection trains with SGD at 0.02, batch 128 (16 x 8 GPUs), a 1000-iteration linear warm-up,
# 140 epochs with LR x0.1 at epochs 90 and 120.
from .centernet_R_18_140e import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)
from .common.coco_512 import TEST_AUGMENTATIONS

model.backbone.conv_bias = False
model.pixel_mean = [123.675, 116.280, 103.530]
model.pixel_std = [58.395, 57.120, 57.375]
dataloader.train.mapper.image_format = "RGB"
# This project's test path, not the original CenterNet's (mmdetection's own is not reproduced).
model.test_pipeline = None
dataloader.test.mapper.augmentations = TEST_AUGMENTATIONS
dataloader.test.mapper.image_format = "RGB"
