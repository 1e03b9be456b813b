# Hourglass-104 (CornerNet, Law & Deng, ECCV 2018, Sec. 4.1): 2 stacks, 5 downsamplings,
# 256-512 channels, 256-channel stack outputs "hg1", "hg2" at stride 4. Used by CornerNet and
# CenterNet's Hourglass config.
from anchorfree.modeling.backbones.hourglass import Hourglass

from detectron2.config import LazyCall as L

hourglass104 = L(Hourglass)(
    num_stacks=2,
    depth=5,
    stem_channels=128,
    widths=[256, 256, 384, 384, 384, 512],
    blocks=[2, 2, 2, 2, 2, 4],
    out_channels=256,
    norm="BN",
)
