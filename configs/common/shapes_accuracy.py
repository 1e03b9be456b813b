# The time-to-accuracy recipe (make accuracy): the standard difficulty of the embedded dataset
# (anchorfree_shapes_train / _val, images at their own size), every detector trained from scratch
# on two CPU cores with the same data, batches of 8, AdamW with a cosine schedule and horizontal
# flips. tools/train_accuracy.py gives each detector the same number of training minutes: it sets
# train.max_iter from the detector's measured throughput, and train.eval_period to evaluate at
# several points along the way. Leaf configs take the data, optimizer, schedule and train options
# from here; the demo recipe (shapes_demo.py) is this one on the demo difficulty.
from .data.shapes import dataloader
from .optim import AdamW as optimizer
from .schedules import cosine_schedule
from .train import train

dataloader.train.total_batch_size = 8
# Loading a batch in-process is cheap (README); a worker process costs more than that in
# contention with the two compute threads on a 2-core machine.
dataloader.train.num_workers = 0
# About 30 training minutes of the FCOS configs on 2 cores (README, Results); tools/
# train_accuracy.py sets it per detector from its measured throughput.
train.max_iter = 5000
train.eval_period = train.max_iter // 6
train.checkpointer.period = 500
train.log_period = 20
train.device = "cpu"
# Warm-up over the first 1/15 of training.
lr_multiplier = cosine_schedule(warmup_fraction=1 / 15)
