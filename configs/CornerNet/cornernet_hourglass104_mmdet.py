# CornerNet Hourglass-104 as cornernet_hourglass104.py, with mmdetection's input convention, for
# its released CornerNet weights (tools/convert_checkpoint.py --source mmdet): RGB input
# normalized by the ImageNet statistics (its img_norm_cfg, to_rgb=True). The network is the same
# layer for layer. Tested with this project's test path (the image at its own resolution, padded
# to 128; flip test, soft-NMS), not the original CornerNet's pipeline.
from .cornernet_hourglass104 import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.image_format = "RGB"
model.pixel_mean = [123.675, 116.280, 103.530]
model.pixel_std = [58.395, 57.120, 57.375]
model.test_pipeline = None
dataloader.test.mapper.image_format = "RGB"
