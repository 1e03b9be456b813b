# Ablation of configs/FCOS/fcos_narrow_FPN_shapes.py: the box output without the learnable scale
# per level (relu(x), as Detectron2's FCOS) instead of relu(scale_l * x) (the original FCOS).
from .fcos_narrow_FPN_shapes import dataloader, lr_multiplier, model, optimizer, train

model.head.use_scale = False
