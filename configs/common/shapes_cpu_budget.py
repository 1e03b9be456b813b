# The training budget of the CPU-sized configs on the embedded dataset (about 8 minutes on
# 2 cores): every detector compared on that dataset trains with exactly these settings.
from .optim import SGD as optimizer
from .schedules import step_schedule
from .train import train

train.max_iter = 300
train.eval_period = train.max_iter
train.checkpointer.period = 100
train.log_period = 20
train.device = "cpu"
optimizer.lr = 0.01
lr_multiplier = step_schedule(train.max_iter, steps_fraction=(0.75, 0.9), warmup_iters=50)
