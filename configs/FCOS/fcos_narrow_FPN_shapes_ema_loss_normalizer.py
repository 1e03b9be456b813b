# Ablation of configs/FCOS/fcos_narrow_FPN_shapes.py: the losses divided by a moving average of
# the normalizers over iterations (momentum 0.9, as Detectron2's FCOS) instead of this batch's.
from .fcos_narrow_FPN_shapes import dataloader, lr_multiplier, model, optimizer, train

model.loss_normalizer_momentum = 0.9
