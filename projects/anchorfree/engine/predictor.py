"""
``Predictor``: Detectron2's ``DefaultPredictor`` that also accepts grayscale and BGRA arrays.

Build it from the same yacs ``CfgNode`` as ``DefaultPredictor``, e.g.
``Predictor(get_predictor_cfg(config_file, opts))`` (see :mod:`anchorfree.config.predictor_cfg`).
Every image first goes through :func:`as_bgr_image`, so bad ones fail with a clear message.
"""

from typing import Dict

import numpy as np
import torch

from detectron2.engine import DefaultPredictor

__all__ = ["as_bgr_image", "Predictor"]


def as_bgr_image(image: np.ndarray) -> np.ndarray:
    """
    Check an image array and bring it to (H, W, 3) uint8 BGR.

    Accepts (H, W) and (H, W, 1) grayscale, (H, W, 3) BGR and (H, W, 4) BGRA (alpha dropped),
    as OpenCV's ``imread`` returns them. Raises ``TypeError``/``ValueError`` for anything else.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"Expected an image as a numpy array, got {type(image).__name__}.")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(
            "Expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); "
            f"got {image.shape}."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"Empty image of shape {image.shape}.")
    if image.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 image (0-255), got dtype {image.dtype}.")
    return np.ascontiguousarray(image[:, :, :3])


class Predictor(DefaultPredictor):
    """``DefaultPredictor`` for one (H, W, C) image in BGR order, gray or BGRA accepted (see
    :func:`as_bgr_image`); returns the model's output dict for that image."""

    def __call__(self, original_image: np.ndarray) -> Dict[str, torch.Tensor]:
        return super().__call__(as_bgr_image(original_image))
