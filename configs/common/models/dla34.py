# DLA-34 (Yu et al., CVPR 2018: levels [1, 1, 1, 2, 2, 1], channels 16-512, basic-block trees)
# with CenterNet's neck (iterative deep aggregation of levels 2..5 with deformable 3x3 convs and
# bilinear-initialized grouped deconvs), one 64-channel output "ida4" at stride 4: the network
# of xingyizhou/CenterNet's pose_dla_dcn.DLASeg up to the heads.
from anchorfree.modeling.backbones.dla import DLA, DLAUpNeck

from detectron2.config import LazyCall as L

dla34 = L(DLAUpNeck)(
    bottom_up=L(DLA)(
        levels=[1, 1, 1, 2, 2, 1],
        channels=[16, 32, 64, 128, 256, 512],
        norm="BN",
        out_features=["level2", "level3", "level4", "level5"],
    ),
    in_features="${.bottom_up.out_features}",
    norm="BN",
)
