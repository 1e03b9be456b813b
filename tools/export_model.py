#!/usr/bin/env python
"""
Export a detector of this project, decoding included, as ONNX or TorchScript.

    python tools/export_model.py --config-file configs/CenterNet/centernet_R_18_shapes.py \
        --format onnx --output exported/centernet train.init_checkpoint=output/model_final.pth

writes ``DIR/model.onnx`` (or ``DIR/model.ts``), ``DIR/config.yaml`` and ``DIR/export.json``;
``anchorfree.export.ExportedPredictor(DIR)`` (and ``tools/demo.py --exported DIR``) predicts
with it. The graph takes one ``[3, H, W]`` float32 image (pixel values in the config's input
format, after its test resize; any H, W from 32 to 8192) and returns ``boxes``, ``scores``,
``classes``; see ``anchorfree.export.graph`` for what is inside and what runs after it
(CornerNet's soft-NMS). Overrides after the options are LazyConfig overrides as for
train_net.py; weights are required unless ``--random-weights``.
"""

import argparse
import logging
import sys

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import load_config
from anchorfree.engine import CheckedCheckpointer, refuse_partial_weights
from anchorfree.export import EXPORT_FORMATS, export_detector

from detectron2.config import instantiate
from detectron2.utils.logger import setup_logger

logger = logging.getLogger("anchorfree.export")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--format", required=True, choices=list(EXPORT_FORMATS))
    parser.add_argument("--output", required=True, help="folder to write the model into")
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="export an untrained model when no train.init_checkpoint is given",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    setup_logger(name="anchorfree")
    cfg = load_config(args.config_file, args.opts)
    weights = cfg.train.get("init_checkpoint") or ""
    if not weights and not args.random_weights:
        raise ValueError(
            "no weights to export; set train.init_checkpoint=/path/to/model_final.pth "
            "(or pass --random-weights for an untrained model)"
        )
    model = refuse_partial_weights(instantiate(cfg.model))
    if weights:
        CheckedCheckpointer(model).load(weights)
    path = export_detector(cfg, model.eval(), args.format, args.output)
    logger.info(f"Wrote {path}")


if __name__ == "__main__":
    try:
        main()
    except (ValueError, KeyError, FileNotFoundError) as e:  # bad options, files or weights
        sys.exit(f"tools/export_model.py: {e}")
