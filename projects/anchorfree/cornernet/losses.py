"""
CornerNet losses (Law & Deng, ECCV 2018, Sec. 3.2-3.3), per head (hourglass stack):

* heatmaps: the penalty-reduced focal loss (``heatmap_focal_loss``) of the top-left and of the
  bottom-right heatmap, each divided by the number of objects;
* associative embeddings, per image with ``n`` objects, ``e_k`` the mean of object ``k``'s two
  embeddings:
  ``pull = 1/n sum_k [(e_tl_k - e_k)^2 + (e_br_k - e_k)^2]``,
  ``push = 1/(n(n-1)) sum_k sum_{j != k} relu(margin - |e_k - e_j|)`` (margin 1);
  the batch loss (``embedding_loss_reduction="mean"``) is the mean of the per-image losses over
  the images where they are defined (at least 1 object for pull, 2 for push) and 0 when there
  are none: the weight of these losses does not depend on how many images a worker holds.
  ``"sum"`` is the original code's (``kp_utils.py``, ``_ae_loss``): the sum of the per-image
  losses over the worker's images (one GPU's chunk there; the chunks' losses are then averaged,
  as DDP averages the workers' gradients here). Not reproduced: the original's
  ``_ae_loss`` divides by ``n + 1e-4`` and ``n(n-1) + 1e-4`` instead of ``n`` and ``n(n-1)``,
  and sums ``relu(1 - |e_k - e_j|) - 1/(n + 1e-4)`` over all ``n^2`` pairs, ``k = j``
  included, where the diagonal's ``n`` cancels the subtracted ``n^2/(n + 1e-4)`` only up to
  ``n 1e-4/(n + 1e-4)``. For ``n >= 2`` that changes an image's losses by less than 1e-4;
  for ``n = 1`` it makes the push loss ``1e-4/(1 + 1e-4) / 1e-4 = 0.9999`` (1.0002 in the
  float32 of its tensors; a constant, with no gradient) instead of 0, so the original's push
  loss grows by about 1 per one-object image, an artifact.
* offsets: smooth-L1 (beta 1) on both corners of every object, summed, divided by the number of
  objects.

The number of objects is averaged over workers (``mean_over_workers``, here, as in the other
detectors' losses) and clamped to at least 1, so that every worker divides by the same number.
The model averages the losses over heads.
"""

from typing import Dict, Tuple

import torch
from torch import Tensor
from torch.nn import functional as F

from anchorfree.modeling.distributed import mean_over_workers
from anchorfree.modeling.heatmap_loss import heatmap_focal_loss
from anchorfree.modeling.peaks import gather_at

from .head import CornerPredictions
from .target_generator import CornerNetTargets

__all__ = [
    "EMBEDDING_LOSS_REDUCTIONS",
    "associative_embedding_loss",
    "check_embedding_loss_reduction",
    "cornernet_losses",
]

EMBEDDING_LOSS_REDUCTIONS = ("mean", "sum")


def check_embedding_loss_reduction(reduction: str) -> None:
    if reduction not in EMBEDDING_LOSS_REDUCTIONS:
        raise ValueError(
            f"embedding_loss_reduction must be one of {EMBEDDING_LOSS_REDUCTIONS}, "
            f"got {reduction!r}"
        )


def associative_embedding_loss(
    tl_embeddings: Tensor,
    br_embeddings: Tensor,
    mask: Tensor,
    margin: float = 1.0,
    reduction: str = "mean",
) -> Tuple[Tensor, Tensor]:
    """
    The pull and push losses of the module docstring.

    Args:
        tl_embeddings, br_embeddings: ``[N, M]`` embeddings of each object's two corners.
        mask: ``[N, M]`` bool, which slots hold objects.
        margin: ``Delta`` of the push loss (1 in the paper).
        reduction: over images, "mean" (over the images where each loss is defined) or "sum"
            (the original code's).

    Returns:
        ``(pull, push)`` scalars; zero (with gradients) where undefined.
    """
    check_embedding_loss_reduction(reduction)
    mask_f = mask.to(tl_embeddings.dtype)
    counts = mask_f.sum(dim=1)  # [N]
    means = (tl_embeddings + br_embeddings) / 2
    pull_per_object = (tl_embeddings - means).pow(2) + (br_embeddings - means).pow(2)
    pull_per_image = (pull_per_object * mask_f).sum(dim=1) / counts.clamp(min=1)
    # An image without objects contributes 0 to the sums below, one with 1 object 0 to push.
    pull = pull_per_image.sum()
    if reduction == "mean":
        pull = pull / (counts >= 1).sum().clamp(min=1)

    num_slots = mask.shape[1]
    off_diagonal = ~torch.eye(num_slots, dtype=torch.bool, device=mask.device)
    pairs = (mask[:, :, None] & mask[:, None, :] & off_diagonal).to(means.dtype)
    distances = (means[:, :, None] - means[:, None, :]).abs()
    push_per_pair = F.relu(margin - distances) * pairs
    push_per_image = push_per_pair.sum(dim=(1, 2)) / (counts * (counts - 1)).clamp(min=1)
    push = push_per_image.sum()
    if reduction == "mean":
        push = push / (counts >= 2).sum().clamp(min=1)
    return pull, push


def cornernet_losses(
    predictions: CornerPredictions,
    targets: CornerNetTargets,
    *,
    focal_loss_alpha: float = 2.0,
    focal_loss_beta: float = 4.0,
    prob_clamp: float = 1e-4,
    pull_weight: float = 0.1,
    push_weight: float = 0.1,
    offset_weight: float = 1.0,
    push_margin: float = 1.0,
    embedding_loss_reduction: str = "mean",
) -> Dict[str, Tensor]:
    """
    The weighted losses of one head.

    Args:
        predictions: one head's outputs on the grid of ``targets``.
        targets: from :class:`CornerNetTargetGenerator`.
        focal_loss_alpha, focal_loss_beta, prob_clamp: of the heatmap focal loss.
        *_weight, push_margin, embedding_loss_reduction: see :class:`~.meta_arch.CornerNet`.

    Returns:
        ``loss_cornernet_hm_tl``, ``loss_cornernet_hm_br``, ``loss_cornernet_pull``,
        ``loss_cornernet_push``, ``loss_cornernet_offset``.
    """
    normalizer = max(mean_over_workers(targets.num_objects), 1.0)
    focal = dict(alpha=focal_loss_alpha, beta=focal_loss_beta, prob_clamp=prob_clamp)
    hm_tl = heatmap_focal_loss(predictions.tl_heatmap, targets.tl_heatmap, normalizer, **focal)
    hm_br = heatmap_focal_loss(predictions.br_heatmap, targets.br_heatmap, normalizer, **focal)

    def at_corners(features: Tensor, cells: Tensor) -> Tensor:
        # Embedding and offset losses in float32 also under mixed precision.
        return gather_at(features.float(), cells[..., 1], cells[..., 0])  # [N, M, D]

    tl_embeddings = at_corners(predictions.tl_embedding, targets.tl_cells).squeeze(2)
    br_embeddings = at_corners(predictions.br_embedding, targets.br_cells).squeeze(2)
    pull, push = associative_embedding_loss(
        tl_embeddings, br_embeddings, targets.mask, push_margin, embedding_loss_reduction
    )

    mask = targets.mask
    offset_loss = (
        F.smooth_l1_loss(
            at_corners(predictions.tl_offset, targets.tl_cells)[mask],
            targets.tl_offsets[mask],
            reduction="sum",
        )
        + F.smooth_l1_loss(
            at_corners(predictions.br_offset, targets.br_cells)[mask],
            targets.br_offsets[mask],
            reduction="sum",
        )
    ) / normalizer
    return {
        "loss_cornernet_hm_tl": hm_tl,
        "loss_cornernet_hm_br": hm_br,
        "loss_cornernet_pull": pull_weight * pull,
        "loss_cornernet_push": push_weight * push,
        "loss_cornernet_offset": offset_weight * offset_loss,
    }
