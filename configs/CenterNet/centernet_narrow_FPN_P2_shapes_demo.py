# CenterNet (anchorfree.centernet) for the demo difficulty: configs/CenterNet/
# centernet_narrow_FPN_P2_shapes.py (a quarter-width ResNet-18 + FPN P2, from scratch) with the
# demo recipe (configs/common/shapes_demo.py).
from ..common.shapes_demo import dataloader, lr_multiplier, optimizer, train
from .centernet_narrow_FPN_P2_shapes import model
