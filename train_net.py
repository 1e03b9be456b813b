#!/usr/bin/env python
"""
Train or evaluate any detector of this project, or Detectron2's own baselines.

Configs are LazyConfigs (``.py``); given a ``.yaml`` (the removed yacs configs) it exits with a
message naming the ``.py`` to use.

    python train_net.py --config-file configs/baselines/fcos_R_18_FPN_shapes.py
    python train_net.py --config-file ... --num-gpus 2            # 2 GPUs, or 2 CPU processes
    # machine R of 2 (README "More than one machine"):
    python train_net.py --config-file ... --num-machines 2 --machine-rank R --dist-url tcp://H:P
    python train_net.py --config-file ... --resume                # continue the last checkpoint
    python train_net.py --config-file ... --eval-only train.init_checkpoint=output/model_final.pth
"""

import logging
import sys

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import check_training_options, load_config
from anchorfree.engine import (
    build_model_from_config,
    do_test,
    do_train,
    launch,
    load_for_evaluation,
)

from detectron2.engine import default_argument_parser, default_setup

logger = logging.getLogger("detectron2")


def main(args):
    cfg = load_config(args.config_file, args.opts)
    default_setup(cfg, args)
    if args.eval_only:
        model = build_model_from_config(cfg)
        load_for_evaluation(cfg, model, resume=args.resume)
        # Each process evaluates its shard of the test set; no DDP wrapper is needed.
        return do_test(cfg, model)
    do_train(cfg, resume=args.resume)


if __name__ == "__main__":
    parser = default_argument_parser()
    args = parser.parse_args()
    if args.num_machines > 1 and args.dist_url == parser.get_default("dist_url"):
        # The default URL is each machine's own loopback: machine 0 would wait for the others,
        # and they for a machine 0 of their own, until the 30-minute timeout.
        sys.exit(
            f"train_net.py: --num-machines {args.num_machines} needs --dist-url tcp://HOST:PORT, "
            "the same on every machine: HOST is machine 0's address as all machines reach it, "
            "PORT a free port there."
        )
    # The config file, the override names and the training options' values, checked before
    # any worker starts and before the model or the data are built. Each worker loads it again.
    try:
        check_training_options(
            load_config(args.config_file, args.opts),
            # --num-gpus 0 runs in this one process.
            num_processes=max(args.num_gpus * args.num_machines, 1),
            eval_only=args.eval_only,
        )
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"train_net.py: {e}")
    except KeyError as e:  # str() of a KeyError quotes its message
        sys.exit(f"train_net.py: {e.args[0]}")
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
