# Ablation of configs/FCOS/fcos_narrow_FPN_shapes.py: the box loss averaged over the positives
# (as Detectron2's FCOS) instead of weighted by their centerness targets (the improved FCOS).
from .fcos_narrow_FPN_shapes import dataloader, lr_multiplier, model, optimizer, train

model.centerness_weighted_box_loss = False
