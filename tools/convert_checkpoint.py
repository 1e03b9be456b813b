#!/usr/bin/env python
"""
Convert a released checkpoint of the original authors (or mmdetection) into this project's
layout, loadable through ``train.init_checkpoint``:

    python tools/convert_checkpoint.py --source centernet ctdet_coco_dla_2x.pth \
        pretrained/centernet_dla34_2x.pth

SOURCE is one of ``centernet`` (xingyizhou/CenterNet: DLA-34, ResNet-DCN, Hourglass-104),
``cornernet`` (princeton-vl/CornerNet), ``fcos-tianzhi`` (tianzhi0549/FCOS),
``fcos-adelaidet`` (aim-uofa/AdelaiDet) and ``mmdet`` (mmdetection's CenterNet, CornerNet and
FCOS). Every key of INPUT is converted or, where deliberately left out (an optimizer state, an
ImageNet classifier), logged with the reason; a key the converter does not know is an error
naming it. The config whose model the weights fit is printed (and saved in OUTPUT); with
``--config-file`` the weights are checked to fit that config's model exactly.
"""

import argparse
import logging
import os

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
from anchorfree.config import load_config
from anchorfree.conversion import (
    SOURCES,
    check_against_model,
    convert_checkpoint,
    read_checkpoint,
    save_converted,
)

from detectron2.config import instantiate
from detectron2.utils.logger import setup_logger

logger = logging.getLogger("anchorfree.conversion")

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--source", required=True, choices=sorted(SOURCES))
    parser.add_argument("input", help="the released checkpoint")
    parser.add_argument("output", help="where to write the converted checkpoint (.pth)")
    parser.add_argument(
        "--config-file",
        help="the config the weights are for, checked to fit its model exactly and saved with "
        "them (default: the config the converter names)",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="do not build the model to check the weights"
    )
    # "*" (parsed intermixed) rather than REMAINDER, which would swallow a --config-file after
    # OUTPUT.
    parser.add_argument("opts", nargs="*", help="config overrides (key=value) for the check")
    return parser.parse_intermixed_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    setup_logger(name="anchorfree")
    converted = convert_checkpoint(args.source, read_checkpoint(args.input))
    if args.config_file:
        # The user's choice where the weights alone do not tell (e.g. FCOS paper vs improved).
        converted.config = args.config_file
    logger.info(
        f"{args.input}: {converted.architecture}, {len(converted.model)} tensors; "
        f"use it with --config-file {converted.config}"
    )
    if not args.no_check:
        config_file = args.config_file or os.path.join(REPOSITORY, converted.config)
        model = instantiate(load_config(config_file, args.opts).model)
        check_against_model(model, converted.model)
        logger.info(f"Checked: the weights fit the model of {config_file} exactly.")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    save_converted(converted, args.output, source=args.source)
    print(
        f"Wrote {args.output}. Use it with:\n  python train_net.py --config-file "
        f"{converted.config} --eval-only train.init_checkpoint={args.output}"
    )


if __name__ == "__main__":
    main()
