"""Run by test_training.py: train with N processes through anchorfree.engine.launch, then let
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


def main(config_file, overrides, output_dir):
    cfg = load_config(config_file, overrides)
    model = do_train(cfg, resume=False)
    torch.save(model.state_dict(), os.path.join(output_dir, f"rank{comm.get_rank()}.pth"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--config-file")
    parser.add_argument("--output-dir")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    launch(
        main,
        args.num_processes,
        dist_url="auto",
        args=(args.config_file, args.opts, args.output_dir),
    )
