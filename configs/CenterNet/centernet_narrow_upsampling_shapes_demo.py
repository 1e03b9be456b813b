# Ablation of configs/CenterNet/centernet_narrow_FPN_P2_shapes_demo.py: the paper's upsampling
# neck (configs/CenterNet/centernet_narrow_upsampling_shapes.py) on the demo difficulty.
from ..common.shapes_demo import dataloader, lr_multiplier, optimizer, train
from .centernet_narrow_upsampling_shapes import model
