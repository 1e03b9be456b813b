"""
CenterNet losses ("Objects as Points", Eq. 1-3): the penalty-reduced focal loss on the class
heatmaps, and L1 losses on the size and offset predictions at the regressed objects' center
cells. Each is divided by the number of objects, summed over workers and divided by the number
of workers (at least 1), and the L1 terms are summed over both coordinates, as in the paper's
``L_size = 1/N sum_k |S_hat_k - s_k|``.
"""

from typing import Dict

import torch
from torch import Tensor

from anchorfree.modeling.distributed import mean_over_workers
from anchorfree.modeling.heatmap_loss import heatmap_focal_loss
from anchorfree.modeling.peaks import gather_cells

from .head import CenterNetOutputs
from .target_generator import CenterNetTargets

__all__ = ["centernet_losses"]


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
) -> Dict[str, Tensor]:
    """
    Args:
        outputs: head outputs for one feature map, on the grid of ``targets``.
        targets: from :class:`~.target_generator.CenterNetTargetGenerator`.
        focal_loss_alpha, focal_loss_beta, prob_clamp: of the heatmap focal loss.
        *_loss_weight: multiply each loss (1, 0.1, 1 in the paper).

    Returns:
        ``loss_centernet_hm``, ``loss_centernet_wh``, ``loss_centernet_offset`` (weighted).
        With no objects the heatmap loss is the sum of its negative terms and the L1 losses
        are 0, still connected to the predictions (every parameter gets a gradient).
    """
    normalizer = max(mean_over_workers(targets.num_objects), 1.0)
    loss_hm = heatmap_focal_loss(
        outputs.heatmap,
        targets.heatmaps,
        normalizer,
        alpha=focal_loss_alpha,
        beta=focal_loss_beta,
        prob_clamp=prob_clamp,
    )
    pred_wh = gather_cells(outputs.wh, targets.image_index, targets.cells).float()
    pred_offset = gather_cells(outputs.offset, targets.image_index, targets.cells).float()
    loss_wh = torch.abs(pred_wh - targets.wh).sum() / normalizer
    loss_offset = torch.abs(pred_offset - targets.offset).sum() / normalizer
    return {
        "loss_centernet_hm": heatmap_loss_weight * loss_hm,
        "loss_centernet_wh": wh_loss_weight * loss_wh,
        "loss_centernet_offset": offset_loss_weight * loss_offset,
    }
