# COCO 2017 detection data (Detectron2's builtin registration: $DETECTRON2_DATASETS/coco).
from omegaconf import OmegaConf

from anchorfree.data import CheckedDatasetMapper, load_detection_dataset_dicts
from anchorfree.engine.evaluation import SanitizedCOCOEvaluator

import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.data import build_detection_test_loader, build_detection_train_loader

dataloader = OmegaConf.create()

dataloader.train = L(build_detection_train_loader)(
    dataset=L(load_detection_dataset_dicts)(names="coco_2017_train"),
    mapper=L(CheckedDatasetMapper)(
        is_train=True,
        augmentations=[
            L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333, sample_style="choice"),
            L(T.RandomFlip)(horizontal=True),
        ],
        image_format="BGR",
    ),
    total_batch_size=16,
    num_workers=4,
)

dataloader.test = L(build_detection_test_loader)(
    dataset=L(load_detection_dataset_dicts)(names="coco_2017_val", filter_empty=False),
    mapper=L(CheckedDatasetMapper)(
        is_train=False,
        augmentations=[L(T.ResizeShortestEdge)(short_edge_length=800, max_size=1333)],
        image_format="${...train.mapper.image_format}",
    ),
    num_workers=4,
)

dataloader.evaluator = L(SanitizedCOCOEvaluator)(dataset_name="${..test.dataset.names}")


def scale_crop_flip_jitter(size: int) -> list:
    """The heatmap detectors' COCO training augmentations (CornerNet, CenterNet): random scale
    0.6-1.3 of a ``size`` x ``size`` target, a random ``size`` x ``size`` crop (padded where
    the scaled image is smaller), horizontal flip, brightness/contrast/saturation jitter 0.6-1.4."""
    return [
        L(T.ResizeScale)(min_scale=0.6, max_scale=1.3, target_height=size, target_width=size),
        L(T.FixedSizeCrop)(crop_size=(size, size)),
        L(T.RandomFlip)(horizontal=True),
        L(T.RandomBrightness)(intensity_min=0.6, intensity_max=1.4),
        L(T.RandomContrast)(intensity_min=0.6, intensity_max=1.4),
        L(T.RandomSaturation)(intensity_min=0.6, intensity_max=1.4),
    ]
