"""
Data for this project: the embedded synthetic dataset (registered, lazily generated, on import),
dataset loading with annotation checks, and a dataset mapper with clear image-read errors.
"""

from .dataset_dicts import load_detection_dataset_dicts, sanitize_boxes
from .mapper import CheckedDatasetMapper, ImageReadError
from .synthetic_shapes import register_synthetic_shapes

register_synthetic_shapes()

__all__ = [
    "CheckedDatasetMapper",
    "ImageReadError",
    "load_detection_dataset_dicts",
    "register_synthetic_shapes",
    "sanitize_boxes",
]
