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
    # your own COCO-format data (class count and names from the json)
    python train_net.py --config-file ... --dataset train=data/train.json:data/images \
        --dataset test=data/val.json:data/images
"""

import logging
import sys

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import check_training_options, load_config
from anchorfree.config.datasets import dataset_override, log_datasets
from anchorfree.engine import (
    build_model_from_config,
    default_setup,
    do_test,
    do_train,
    launch,
    load_for_evaluation,
)

from detectron2.engine import default_argument_parser

logger = logging.getLogger("detectron2")


def main(args):
    cfg = load_config(args.config_file, args.opts)
    default_setup(cfg, args)
    log_datasets(cfg)
    if args.eval_only:
        model = build_model_from_config(cfg)
        load_for_evaluation(cfg, model, resume=args.resume)
        # Each process evaluates its shard of the test set; no DDP wrapper is needed.
        return do_test(cfg, model)
    do_train(cfg, resume=args.resume)


def parse_args():
    """The command line, checked before any worker starts: the config file, the override names
    and the training options' values, before the model or the data are built (each worker
    loads the config again)."""
    parser = default_argument_parser()
    parser.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="ROLE=PATH.json:IMAGE_DIR",
        help="a COCO-format dataset: train= replaces the config's training set, test= its "
        "evaluation set (repeat for both); the class count and names come from the json",
    )
    args = parser.parse_args()
    if args.num_machines > 1 and args.dist_url == parser.get_default("dist_url"):
        # The default URL is each machine's own loopback: machine 0 would wait for the others,
        # and they for a machine 0 of their own, until the 30-minute timeout.
        sys.exit(
            f"train_net.py: --num-machines {args.num_machines} needs --dist-url tcp://HOST:PORT, "
            "the same on every machine: HOST is machine 0's address as all machines reach it, "
            "PORT a free port there."
        )
    try:
        # Datasets become the config overrides datasets.ROLE=... (anchorfree.config.datasets).
        args.opts = [dataset_override(spec) for spec in args.dataset] + list(args.opts)
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
    return args


if __name__ == "__main__":
    args = parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
