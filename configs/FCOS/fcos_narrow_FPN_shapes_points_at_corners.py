# Ablation of configs/FCOS/fcos_narrow_FPN_shapes.py: points at the feature cells' top-left
# corners (i*s, as Detectron2's FCOS) instead of their centers (i*s + s//2, the original FCOS).
from .fcos_narrow_FPN_shapes import dataloader, lr_multiplier, model, optimizer, train

model.target_generator.points_at_cell_centers = False
