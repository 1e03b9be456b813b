# CornerNet Hourglass-104 as cornernet_hourglass104.py, with mmdetection's input convention, for
# its released CornerNet weights (tools/convert_checkpoint.py --source mmdet): RGB input
# normalized by the ImageNet statistics (its img_norm_cfg, to_rgb=True). The network is the same
# layer for layer.
from .cornernet_hourglass104 import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.image_format = "RGB"
model.pixel_mean = [123.675, 116.280, 103.530]
model.pixel_std = [58.395, 57.120, 57.375]
