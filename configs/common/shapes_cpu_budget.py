# The training budget of the CPU-sized configs on the standard embedded dataset (batch 4 from
# configs/common/data/shapes.py): every detector compared on that dataset trains with exactly
# these settings (600 iterations of batch 4 at LR 0.02 beat 300 of batch 8 at LR 0.01 in the
# same time: README, Results).
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
