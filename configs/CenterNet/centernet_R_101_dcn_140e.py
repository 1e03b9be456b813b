# CenterNet ResNet-101 (upsampling neck with deformable convs) on COCO: the original's
# experiments/ctdet_coco_resdcn101.sh (--arch resdcn_101 --batch_size 96 --lr 3.75e-4, 140
# epochs, LR x0.1 at epochs 90 and 120: opts.py's defaults), i.e. centernet_R_18_140e.py with
# a ResNet-101 (torchvision's: the stride in each Bottleneck's 3x3 conv) and that batch and LR.
# Its released ctdet_coco_resdcn101.pth (34.6 AP; 36.2 flip, 39.3 multi-scale in the
# original's MODEL_ZOO.md) converts into it exactly (tools/convert_checkpoint.py --source
# centernet). Its input, test pipeline and training conventions are the original's, as in
# centernet_R_18_140e.py. (The experiment's test lines omit --arch, which would rebuild the
# default DLA-34; the released weights are the ResNet-101's.)
#
# Initialization: torchvision's ImageNet ResNet-101, converted with Detectron2's
# tools/convert-torchvision-to-d2.py:
#   python convert-torchvision-to-d2.py resnet101-5d3b4d8f.pth pretrained/torchvision_R-101.pkl
from .centernet_R_18_140e import (
    dataloader,
    epoch_schedule,
    epochs_to_iters,
    model,
    optimizer,
    train,
)

BATCH_SIZE = 96

model.backbone.bottom_up.stages.depth = 101
model.backbone.bottom_up.stages.stride_in_1x1 = False

dataloader.train.total_batch_size = BATCH_SIZE
optimizer.lr = 3.75e-4
lr_multiplier = epoch_schedule(140, [90, 120], BATCH_SIZE)
train.max_iter = epochs_to_iters(140, BATCH_SIZE)
train.checkpointer.period = epochs_to_iters(10, BATCH_SIZE)
train.eval_period = epochs_to_iters(10, BATCH_SIZE)
train.init_checkpoint = "pretrained/torchvision_R-101.pkl"
