"""The penalty-reduced focal loss on Gaussian heatmaps (CornerNet Eq. 1, used by CenterNet)."""

from typing import Union

import torch
from torch import Tensor

__all__ = ["clamped_sigmoid", "heatmap_focal_loss"]


def clamped_sigmoid(logits: Tensor, prob_clamp: float = 1e-4) -> Tensor:
    """``sigmoid(logits)`` clamped to ``[prob_clamp, 1 - prob_clamp]`` so that its logs stay
    finite."""
    return torch.sigmoid(logits).clamp(min=prob_clamp, max=1 - prob_clamp)


def heatmap_focal_loss(
    logits: Tensor,
    targets: Tensor,
    num_objects: Union[float, Tensor],
    alpha: float = 2.0,
    beta: float = 4.0,
    prob_clamp: float = 1e-4,
) -> Tensor:
    """
    ``-1/N sum_cyx { (1 - p)^alpha log(p)                     where y = 1
                   { (1 - y)^beta p^alpha log(1 - p)           otherwise``

    Cells where the target is exactly 1 (the drawn centers/corners) are positives; elsewhere
    the Gaussian value ``y`` reduces the penalty for scoring near an object.

    Args:
        logits: ``[N, C, H, W]`` heatmap logits.
        targets: ``[N, C, H, W]`` in [0, 1], peaks exactly 1 (:func:`draw_gaussians`).
        num_objects: the normalizer N, the number of objects in the batch (the caller averages
            it over workers in distributed training). With no objects the loss is the sum of
            the negative terms (the normalizer is clamped to at least 1).
        alpha, beta: the focusing exponents of the paper (2 and 4).
        prob_clamp: probabilities are clamped to ``[prob_clamp, 1 - prob_clamp]``.

    Returns:
        a scalar tensor (float32 even under mixed precision).
    """
    probs = clamped_sigmoid(logits.float(), prob_clamp)
    targets = targets.float()
    positive = targets.eq(1).float()
    positive_loss = torch.pow(1 - probs, alpha) * torch.log(probs) * positive
    negative_weight = torch.pow(1 - targets, beta) * (1 - positive)
    negative_loss = negative_weight * torch.pow(probs, alpha) * torch.log(1 - probs)
    if isinstance(num_objects, Tensor):
        normalizer = num_objects.float().clamp(min=1.0)
    else:
        normalizer = max(float(num_objects), 1.0)
    return -(positive_loss.sum() + negative_loss.sum()) / normalizer
