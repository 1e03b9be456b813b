# The short SGD budget of the ResNet-18 + FPN-128 configs on the standard embedded dataset
# (*_R_18_*_shapes.py, batch 4 from configs/common/data/shapes.py), which the fcos-vs-detectron2
# and centernet benchmark suites and the tests use: 600 iterations, about 8 CPU-minutes, far
# from converged (README, Results). The time-to-accuracy comparison trains the narrow configs
# with configs/common/shapes_accuracy.py instead.
from .optim import SGD as optimizer
from .schedules import step_schedule
from .train import train

train.max_iter = 600
train.eval_period = train.max_iter
train.checkpointer.period = 200
train.log_period = 20
train.device = "cpu"
optimizer.lr = 0.02
lr_multiplier = step_schedule(train.max_iter, steps_fraction=(0.75, 0.9), warmup_iters=100)
