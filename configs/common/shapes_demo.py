# The demo recipe (make demo): the time-to-accuracy recipe (shapes_accuracy.py) on the "demo"
# difficulty of the embedded dataset (anchorfree_shapes_demo_*, see
# anchorfree.data.synthetic_shapes.DEMO_PARAMS), trained from scratch on two CPU cores in
# minutes. Leaf configs take the data, optimizer, schedule and train options from here.
from .shapes_accuracy import dataloader, lr_multiplier, optimizer, train

dataloader.train.dataset.names = "anchorfree_shapes_demo_train"
dataloader.test.dataset.names = "anchorfree_shapes_demo_val"
# 1,500 iterations of 8 images (the FCOS demo config trains 2,600 of 4 instead: README, Results).
train.max_iter = 1500
train.eval_period = train.max_iter
# Fixed, so that the README's demo figures are what a user gets (train.seed=-1 draws one).
train.seed = 1
