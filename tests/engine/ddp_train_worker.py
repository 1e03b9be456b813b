"""Run by test_training.py: train with N processes per machine through
anchorfree.engine.launch, on one machine or, started once per machine rank, on several, then let
every rank save its final weights, so that the test can compare them."""

import argparse
import os

import torch

import anchorfree  # noqa: F401
import anchorfree.data  # noqa: F401
from anchorfree.config import load_config
from anchorfree.engine import launch
from anchorfree.engine.training import do_train

from detectron2.utils import comm


def main(config_file, overrides, output_dir, resume):
    cfg = load_config(config_file, overrides)
    model = do_train(cfg, resume=resume)
    torch.save(model.state_dict(), os.path.join(output_dir, f"rank{comm.get_rank()}.pth"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-processes", type=int, default=2, help="per machine")
    parser.add_argument("--num-machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0)
    parser.add_argument("--dist-url", default="auto")
    parser.add_argument("--config-file")
    parser.add_argument("--output-dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    launch(
        main,
        args.num_processes,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args.config_file, args.opts, args.output_dir, args.resume),
    )
