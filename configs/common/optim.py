import torch

from detectron2.config import LazyCall as L
from detectron2.solver.build import get_default_optimizer_params

SGD = L(torch.optim.SGD)(
    # params.model is set to the model object by train_net.py before instantiation.
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0),
    lr=0.01,
    momentum=0.9,
    weight_decay=1e-4,
)

# The heatmap detectors' optimizer (CenterNet and CornerNet train with Adam in their papers).
# On the embedded dataset from scratch, SGD at the shared budget's LR 0.02 left CenterNet's
# heatmap loss where it started (AP 0.00 after 600 iterations); Adam at 1e-3 learns.
Adam = L(torch.optim.Adam)(
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0),
    lr=1e-3,
    weight_decay=0.0,
)

# AdamW for the from-scratch CPU recipes (decoupled weight decay; none on norms and biases).
AdamW = L(torch.optim.AdamW)(
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0, weight_decay_bias=0.0),
    lr=2e-3,
    betas=(0.9, 0.999),
    weight_decay=0.05,
)
