# CenterNet ResNet-18 without deformable convs as mmdetection (v2.x) builds it,
# configs/centernet/centernet_resnet18_140e_coco.py (CTResNetNeck with use_dcn=False): the
# config of its released checkpoint converted with tools/convert_checkpoint.py --source mmdet.
# Everything else, mmdetection's conventions included (no conv bias before BN, RGB input with
# torchvision's mean and std in 0-255 pixels, its test pipeline not reproduced), is
# centernet_R_18_dcn_140e_mmdet.py's.
from .centernet_R_18_dcn_140e_mmdet import (
    dataloader,
    lr_multiplier,
    model,
    optimizer,
    train,
)

model.backbone.deformable = False
