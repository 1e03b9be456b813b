# The demo recipe (make demo): the "demo" difficulty of the embedded dataset
# (anchorfree_shapes_demo_*, see anchorfree.data.synthetic_shapes.DEMO_PARAMS), trained from
# scratch on two CPU cores in minutes: batches of 8, AdamW with a cosine schedule,
# horizontal flips. Leaf configs take the data, optimizer, schedule and train options from here.
from .data.shapes import dataloader
from .optim import AdamW as optimizer
from .schedules import cosine_schedule
from .train import train

dataloader.train.dataset.names = "anchorfree_shapes_demo_train"
dataloader.train.total_batch_size = 8
# Loading a batch in-process is cheap (README); a worker process costs more than that in
# contention with the two compute threads on a 2-core machine.
dataloader.train.num_workers = 0
dataloader.test.dataset.names = "anchorfree_shapes_demo_val"
# 1,500 iterations of 8 images (the FCOS demo config: about 9 minutes of training, README).
train.max_iter = 1500
train.eval_period = train.max_iter
train.checkpointer.period = 500
train.log_period = 20
train.device = "cpu"
# Fixed, so that the README's demo figures are what a user gets (train.seed=-1 draws one).
train.seed = 1
# Warm-up over the first 1/15 of training (100 iterations of 1,500).
lr_multiplier = cosine_schedule(warmup_fraction=1 / 15)
