# The demo recipe (make demo): the "demo" difficulty of the embedded dataset
# (anchorfree_shapes_demo_*, see anchorfree.data.synthetic_shapes.DEMO_PARAMS), trained from
# scratch on two CPU cores within 10 minutes: batches of 8, AdamW with a cosine schedule,
# horizontal flips. Leaf configs take the data, optimizer, schedule and train options from here.
from .data.shapes import dataloader
from .optim import AdamW as optimizer
from .schedules import cosine_schedule
from .train import train

dataloader.train.dataset.names = "anchorfree_shapes_demo_train"
dataloader.train.total_batch_size = 8
dataloader.test.dataset.names = "anchorfree_shapes_demo_val"

train.max_iter = 1500
train.eval_period = train.max_iter
train.checkpointer.period = 500
train.log_period = 20
train.device = "cpu"
lr_multiplier = cosine_schedule(train.max_iter, warmup_iters=100)
