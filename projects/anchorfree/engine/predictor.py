"""
``DefaultPredictor`` for both config systems, with input checks.

Detectron2's ``DefaultPredictor`` takes a yacs config only; :class:`Predictor` also takes a
LazyConfig (model from ``cfg.model``, weights from ``cfg.train.init_checkpoint``, test-time
augmentations from ``cfg.dataloader.test.mapper``). Every image first goes through
:func:`as_bgr_image`, so grayscale and BGRA arrays work and bad ones fail with a clear message.
"""
from typing import Dict, List, Union

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import CfgNode, instantiate
from detectron2.data import transforms as T
from detectron2.engine import DefaultPredictor
from omegaconf import DictConfig

from .training import build_model_from_config, resolve_device

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
            f"Expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {image.shape}."
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"Empty image of shape {image.shape}.")
    if image.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 image (0-255), got dtype {image.dtype}.")
    return np.ascontiguousarray(image[:, :, :3])


class _SequentialAugmentation(T.Augmentation):
    """Applies a list of deterministic test-time augmentations as one (``DefaultPredictor``
    calls ``get_transform`` on a single augmentation)."""

    def __init__(self, augmentations: List[T.Augmentation]):
        super().__init__()
        self.augmentations = list(augmentations)

    def get_transform(self, image: np.ndarray) -> T.Transform:
        return T.AugmentationList(self.augmentations)(T.AugInput(image))


class Predictor(DefaultPredictor):
    """
    ``DefaultPredictor`` that also takes a LazyConfig. Call with one (H, W, C) image in BGR
    order (see :func:`as_bgr_image`); returns the model's output dict for that image.
    """

    def __init__(self, cfg: Union[CfgNode, DictConfig]):
        if isinstance(cfg, CfgNode):
            cfg = cfg.clone()
            resolve_device(cfg)  # DefaultPredictor would build on "cuda" by default
            super().__init__(cfg)
            return
        self.cfg = cfg
        self.model = build_model_from_config(cfg).eval()
        DetectionCheckpointer(self.model).load(cfg.train.init_checkpoint)
        mapper = cfg.dataloader.test.mapper
        self.aug = _SequentialAugmentation(instantiate(mapper.augmentations))
        self.input_format = mapper.image_format

    def __call__(self, original_image: np.ndarray) -> Dict[str, torch.Tensor]:
        return super().__call__(as_bgr_image(original_image))
