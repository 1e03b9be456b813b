"""
CenterNet losses ("Objects as Points", Eq. 1-3): the penalty-reduced focal loss on the class
heatmaps, and L1 losses on the size and offset predictions at the regressed objects' center
cells. Each is divided by the number of objects, summed over workers and divided by the number
of workers (at least 1), and the L1 terms are summed over both coordinates, as in the paper's
``L_size = 1/N sum_k |S_hat_k - s_k|``.

The original code (``src/lib/models/losses.py``) normalizes otherwise, selectable here:

* ``heatmap_normalizer="peaks"``: its ``_neg_loss`` divides by the number of heatmap cells that
  are exactly 1 (objects of one class sharing a center cell make one peak), and by nothing
  (1) when there are none;
* ``regression_normalizer="coordinates"``: its ``RegL1Loss`` divides the summed L1 by the mask
  expanded over both coordinates, ``2 M + 1e-4`` for ``M`` regressed objects: half of
  ``"objects"`` at the same weights.

Every count is averaged over workers (:func:`~anchorfree.modeling.distributed.
mean_over_workers`).
"""

from typing import Dict

import torch
from torch import Tensor

from anchorfree.modeling.distributed import mean_over_workers
from anchorfree.modeling.heatmap_loss import heatmap_focal_loss
from anchorfree.modeling.peaks import gather_cells

from .head import CenterNetOutputs
from .target_generator import CenterNetTargets

__all__ = ["HEATMAP_NORMALIZERS", "REGRESSION_NORMALIZERS", "centernet_losses"]

HEATMAP_NORMALIZERS = ("objects", "peaks")
REGRESSION_NORMALIZERS = ("objects", "coordinates")
# RegL1Loss's guard against an empty mask.
REGRESSION_EPSILON = 1e-4


def check_normalizers(heatmap_normalizer: str, regression_normalizer: str) -> None:
    """Raise ``ValueError`` unless both are known (checked when the model is built)."""
    if heatmap_normalizer not in HEATMAP_NORMALIZERS:
        raise ValueError(
            f"heatmap_normalizer must be one of {HEATMAP_NORMALIZERS}, got {heatmap_normalizer!r}"
        )
    if regression_normalizer not in REGRESSION_NORMALIZERS:
        raise ValueError(
            f"regression_normalizer must be one of {REGRESSION_NORMALIZERS}, got "
            f"{regression_normalizer!r}"
        )


def centernet_losses(
    outputs: CenterNetOutputs,
    targets: CenterNetTargets,
    *,
    focal_loss_alpha: float = 2.0,
    focal_loss_beta: float = 4.0,
    prob_clamp: float = 1e-4,
    heatmap_loss_weight: float = 1.0,
    wh_loss_weight: float = 0.1,
    offset_loss_weight: float = 1.0,
    heatmap_normalizer: str = "objects",
    regression_normalizer: str = "objects",
) -> Dict[str, Tensor]:
    """
    Args:
        outputs: head outputs for one feature map, on the grid of ``targets``.
        targets: from :class:`~.target_generator.CenterNetTargetGenerator`.
        focal_loss_alpha, focal_loss_beta, prob_clamp: of the heatmap focal loss.
        *_loss_weight: multiply each loss (1, 0.1, 1 in the paper).
        heatmap_normalizer: ``"objects"`` or ``"peaks"`` (the original; module docstring).
        regression_normalizer: ``"objects"`` or ``"coordinates"`` (the original).

    Returns:
        ``loss_centernet_hm``, ``loss_centernet_wh``, ``loss_centernet_offset`` (weighted).
        With no objects the heatmap loss is the sum of its negative terms and the L1 losses
        are 0, still connected to the predictions (every parameter gets a gradient).
    """
    check_normalizers(heatmap_normalizer, regression_normalizer)
    normalizer = max(mean_over_workers(targets.num_objects), 1.0)
    if heatmap_normalizer == "peaks":
        heatmap_normalizer_value = max(mean_over_workers(targets.heatmaps.eq(1).sum().item()), 1.0)
    else:
        heatmap_normalizer_value = normalizer
    if regression_normalizer == "coordinates":
        regression_normalizer_value = (
            2 * mean_over_workers(targets.cells.numel()) + REGRESSION_EPSILON
        )
    else:
        regression_normalizer_value = normalizer
    loss_hm = heatmap_focal_loss(
        outputs.heatmap,
        targets.heatmaps,
        heatmap_normalizer_value,
        alpha=focal_loss_alpha,
        beta=focal_loss_beta,
        prob_clamp=prob_clamp,
    )
    pred_wh = gather_cells(outputs.wh, targets.image_index, targets.cells).float()
    pred_offset = gather_cells(outputs.offset, targets.image_index, targets.cells).float()
    loss_wh = torch.abs(pred_wh - targets.wh).sum() / regression_normalizer_value
    loss_offset = torch.abs(pred_offset - targets.offset).sum() / regression_normalizer_value
    return {
        "loss_centernet_hm": heatmap_loss_weight * loss_hm,
        "loss_centernet_wh": wh_loss_weight * loss_wh,
        "loss_centernet_offset": offset_loss_weight * loss_offset,
    }
