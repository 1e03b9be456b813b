"""
Data for this project: the embedded synthetic dataset (registered, lazily generated, on import),
the user's own COCO-format datasets named by their files, dataset loading with annotation checks,
and a dataset mapper that skips unreadable images (counted by the loader filter).
"""

from .coco_datasets import DatasetSpec, parse_dataset_spec, register_coco_dataset
from .dataset_dicts import load_detection_dataset_dicts, sanitize_boxes, sanitized_xyxy
from .mapper import CheckedDatasetMapper, ImageReadError, UnreadableImageFilter
from .synthetic_shapes import register_synthetic_shapes

register_synthetic_shapes()

__all__ = [
    "CheckedDatasetMapper",
    "DatasetSpec",
    "ImageReadError",
    "UnreadableImageFilter",
    "load_detection_dataset_dicts",
    "parse_dataset_spec",
    "register_coco_dataset",
    "register_synthetic_shapes",
    "sanitize_boxes",
    "sanitized_xyxy",
]
