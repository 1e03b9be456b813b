"""Peak extraction from heatmaps and gathering at cells, shared by CenterNet and CornerNet."""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .graph_ops import min_size

__all__ = ["Peaks", "gather_at", "gather_cells", "suppress_non_peaks", "topk_peaks"]


class Peaks(NamedTuple):
    """The K best peaks of each image, best first; every field is ``[N, K]``."""

    scores: Tensor
    classes: Tensor  # int64 channel index
    ys: Tensor  # int64 row (output-grid cell)
    xs: Tensor  # int64 column (output-grid cell)


def suppress_non_peaks(scores: Tensor, kernel_size: int = 3) -> Tensor:
    """
    Zero every score that is not the maximum of its ``kernel_size`` x ``kernel_size``
    neighbourhood in its own channel: the max-pool replacement for NMS of the heatmap
    detectors. Equal neighbouring maxima both survive.

    Args:
        scores: ``[N, C, H, W]`` probabilities.
        kernel_size: odd window side (3 in the papers).
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    return scores * (_window_max(scores, kernel_size) == scores)


def _window_max(scores: Tensor, kernel_size: int) -> Tensor:
    """
    ``F.max_pool2d(scores, kernel_size, stride=1, padding=kernel_size // 2)``, computed as a
    maximum along rows then along columns (the square window's max is separable). Equal
    results; on CPU the separable form is much faster than max_pool2d on 80-class heatmaps,
    which dominated CenterNet's decoding.
    """
    radius = kernel_size // 2
    height, width = scores.shape[-2:]
    padded = F.pad(scores, (radius, radius, radius, radius), value=float("-inf"))
    along_rows = padded[..., :width]
    for shift in range(1, kernel_size):
        along_rows = torch.maximum(along_rows, padded[..., shift : shift + width])
    pooled = along_rows[..., :height, :]
    for shift in range(1, kernel_size):
        pooled = torch.maximum(pooled, along_rows[..., shift : shift + height, :])
    return pooled


def topk_peaks(scores: Tensor, k: int) -> Peaks:
    """
    The ``k`` highest scores over all classes and cells of each image. Taking the top-k of
    each class first and then the top-k of those ``C*k`` gives the same set as one top-k over
    ``C*H*W`` cells, with smaller sorts.

    Args:
        scores: ``[N, C, H, W]``, usually after :func:`suppress_non_peaks`.
        k: peaks per image; clipped to ``C*H*W``.
    """
    n, c, h, w = scores.shape
    k_per_class = min_size(k, h * w)
    class_scores, class_cells = scores.reshape(n, c, h * w).topk(k_per_class, dim=2)
    k_total = min_size(k, c * k_per_class)
    top_scores, top_index = class_scores.reshape(n, c * k_per_class).topk(k_total, dim=1)
    cells = class_cells.reshape(n, c * k_per_class).gather(1, top_index)
    ys = torch.div(cells, w, rounding_mode="floor")
    return Peaks(
        scores=top_scores,
        classes=torch.div(top_index, k_per_class, rounding_mode="floor"),
        ys=ys,
        # Not ``cells % w``: the ONNX exporter cannot take a remainder by the graph's width.
        xs=cells - ys * w,
    )


def gather_cells(features: Tensor, image_index: Tensor, cells: Tensor) -> Tensor:
    """
    The feature vectors at (image, flat cell) pairs.

    Args:
        features: ``[N, D, H, W]``.
        image_index, cells: int64 image and flat cell ``y * W + x`` of each pair, of one shape
            ``S`` (or shapes that broadcast to it).

    Returns:
        ``[*S, D]``.
    """
    n, d, h, w = features.shape
    return features.reshape(n, d, h * w).permute(0, 2, 1)[image_index, cells]


def gather_at(features: Tensor, ys: Tensor, xs: Tensor) -> Tensor:
    """
    The feature vectors at given cells of each image.

    Args:
        features: ``[N, D, H, W]``.
        ys, xs: ``[N, K]`` int64 cells.

    Returns:
        ``[N, K, D]``.
    """
    n, _, _, w = features.shape
    image_index = torch.arange(n, device=features.device)[:, None]
    return gather_cells(features, image_index, ys * w + xs)
