#!/usr/bin/env python
"""
Predict with a trained detector and write visualized results (Detectron2's Visualizer).

    # images: one file, several, or a folder; a video file writes a video
    python tools/demo.py --config-file CONFIG --input img.jpg photos/ clip.mp4 --output out/ \
        train.init_checkpoint=output/model_final.pth
    # a dataset: predictions beside the ground truth; a registered name, or your own COCO
    # data as for train_net.py (the model's class count and names then come from its json)
    python tools/demo.py --config-file CONFIG --dataset anchorfree_shapes_val --num-images 8 \
        --output out/ train.init_checkpoint=output/model_final.pth
    python tools/demo.py --config-file CONFIG --dataset test=data/val.json:data/images ...
    # a model exported by tools/export_model.py (ONNX Runtime or TorchScript)
    python tools/demo.py --config-file CONFIG --exported exported/DIR --input photos/ --output out/

Overrides (after the options) are LazyConfig overrides as for train_net.py; weights
(``train.init_checkpoint``) are required unless ``--random-weights`` asks for an untrained
model. The predictor is Detectron2's ``DefaultPredictor`` (gray and BGRA images accepted)
served through ``anchorfree.config.get_predictor_cfg``.
"""

import argparse
import logging
import os
import sys
from typing import Dict, Iterator, List, Tuple

import cv2
import numpy as np
import tqdm

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import get_predictor_cfg, load_config
from anchorfree.config.datasets import dataset_override, test_dataset_names
from anchorfree.data import ImageReadError, load_detection_dataset_dicts
from anchorfree.data.mapper import read_image_checked
from anchorfree.engine import Predictor, as_bgr_image
from anchorfree.export import ExportedPredictor

from detectron2.data import MetadataCatalog
from detectron2.utils.logger import setup_logger
from detectron2.utils.visualizer import Visualizer

logger = logging.getLogger("anchorfree.demo")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--input", nargs="+", default=[], help="image files, folders or videos")
    parser.add_argument(
        "--dataset",
        help="a dataset to draw predictions and GT of: a registered name, or "
        "test=PATH.json:IMAGE_DIR",
    )
    parser.add_argument("--num-images", type=int, default=8, help="images taken from --dataset")
    parser.add_argument("--output", required=True, help="folder for the visualizations")
    parser.add_argument("--confidence-threshold", type=float, default=0.3)
    parser.add_argument(
        "--exported",
        metavar="DIR",
        help="predict with the model exported into DIR by tools/export_model.py (ONNX Runtime "
        "or TorchScript) instead of the config's eager model",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="predict with an untrained model when no train.init_checkpoint is given",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    args = parser.parse_args()
    if not args.input and not args.dataset:
        parser.error("give --input and/or --dataset")
    return args


def expand_inputs(paths: List[str]) -> Tuple[List[str], List[str]]:
    """Split the given paths into image files and video files; folders contribute their
    images (sorted). Raises FileNotFoundError for a path that does not exist."""
    images, videos = [], []
    for path in paths:
        if os.path.isdir(path):
            images += sorted(
                os.path.join(path, f)
                for f in os.listdir(path)
                if f.lower().endswith(IMAGE_EXTENSIONS)
            )
        elif not os.path.exists(path):
            raise FileNotFoundError(f"Input '{path}' does not exist.")
        elif path.lower().endswith(VIDEO_EXTENSIONS):
            videos.append(path)
        else:
            images.append(path)
    return images, videos


class DetectionVisualizer:
    """Draws a predictor's detections above a score threshold (and optionally the GT)."""

    def __init__(self, predictor, metadata, confidence_threshold: float):
        """``predictor``: a :class:`Predictor` or an ``ExportedPredictor``."""
        self.predictor = predictor
        self.metadata = metadata
        self.confidence_threshold = confidence_threshold

    def predictions(self, bgr: np.ndarray) -> np.ndarray:
        """Returns an RGB drawing of the detections on ``bgr`` (gray and BGRA accepted)."""
        bgr = as_bgr_image(bgr)
        instances = self.predictor(bgr)["instances"].to("cpu")
        instances = instances[instances.scores >= self.confidence_threshold]
        drawing = Visualizer(bgr[:, :, ::-1], self.metadata).draw_instance_predictions(instances)
        return drawing.get_image()

    def ground_truth(self, bgr: np.ndarray, record: Dict) -> np.ndarray:
        return Visualizer(bgr[:, :, ::-1], self.metadata).draw_dataset_dict(record).get_image()


def write_rgb(path: str, rgb: np.ndarray) -> None:
    if not cv2.imwrite(path, rgb[:, :, ::-1]):
        raise OSError(f"Could not write '{path}'.")


def frames(video_path: str) -> Iterator[np.ndarray]:
    capture = cv2.VideoCapture(video_path)
    if not capture.isOpened():
        raise OSError(f"Cannot open video '{video_path}'.")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def run_video(drawer: DetectionVisualizer, video_path: str, output_dir: str) -> str:
    capture = cv2.VideoCapture(video_path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    capture.release()
    out_path = os.path.join(output_dir, os.path.splitext(os.path.basename(video_path))[0] + ".mp4")
    writer = None
    try:
        for frame in tqdm.tqdm(frames(video_path), desc=os.path.basename(video_path)):
            rgb = drawer.predictions(frame)
            if writer is None:
                height, width = rgb.shape[:2]
                writer = cv2.VideoWriter(
                    out_path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height)
                )
            writer.write(rgb[:, :, ::-1])
    finally:
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError(f"Video '{video_path}' has no readable frame.")
    return out_path


def main() -> None:
    args = parse_args()
    setup_logger(name="anchorfree")
    own_data = bool(args.dataset) and "=" in args.dataset  # test=PATH.json:IMAGE_DIR
    # Your own data becomes the config's test set, registered when the config is loaded.
    opts = [dataset_override(args.dataset), *args.opts] if own_data else args.opts
    if args.exported:
        predictor = ExportedPredictor(args.exported)
        test_sets = test_dataset_names(load_config(args.config_file, opts))
    else:
        cfg = get_predictor_cfg(args.config_file, opts, allow_random_weights=args.random_weights)
        predictor = Predictor(cfg)
        test_sets = list(cfg.DATASETS.TEST)
    dataset = test_sets[0] if own_data else args.dataset
    if dataset or not args.exported:
        metadata = MetadataCatalog.get(dataset or (test_sets or ["__unused"])[0])
    else:
        metadata = predictor.metadata  # the class names the model was exported with
    drawer = DetectionVisualizer(predictor, metadata, args.confidence_threshold)
    os.makedirs(args.output, exist_ok=True)
    images, videos = expand_inputs(args.input)
    written = []

    if dataset:
        # The ground truth as training sees it (bad boxes dropped, boxes clipped).
        records = load_detection_dataset_dicts(dataset, filter_empty=False)[: args.num_images]
        for record in tqdm.tqdm(records, desc=dataset):
            try:
                bgr = read_image_checked(record["file_name"], "BGR")
            except ImageReadError as e:
                logger.warning(f"Skipping: {e}")
                continue
            side_by_side = np.concatenate(
                [drawer.ground_truth(bgr, record), drawer.predictions(bgr)], axis=1
            )
            name = os.path.splitext(os.path.basename(record["file_name"]))[0]
            written.append(os.path.join(args.output, f"{name}_gt_vs_pred.png"))
            write_rgb(written[-1], side_by_side)
    for path in tqdm.tqdm(images, desc="images", disable=len(images) < 2):
        bgr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if bgr is None:
            # One unreadable file in a folder should not stop the others.
            logger.warning(f"Skipping '{path}': not a readable image.")
            continue
        name = os.path.splitext(os.path.basename(path))[0]
        written.append(os.path.join(args.output, f"{name}_pred.png"))
        write_rgb(written[-1], drawer.predictions(bgr))
    for path in videos:
        written.append(run_video(drawer, path, args.output))
    logger.info(f"Wrote {len(written)} visualization(s) to {args.output}")


if __name__ == "__main__":
    try:
        main()
    except (ValueError, KeyError, FileNotFoundError) as e:  # bad options, files or weights
        sys.exit(f"tools/demo.py: {e}")
