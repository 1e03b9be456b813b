"""
FCOS losses: sigmoid focal loss on all points, an IoU-family loss on the ``(l, t, r, b)``
distances of positive points, and binary cross-entropy on their centerness.

Normalization (as in the original implementation): the classification and centerness losses
are divided by the number of positive points per worker (summed over all workers, divided by
the number of workers, at least 1); the box loss is divided by the same number, or, when
weighted by the centerness targets, by the per-worker average of the sum of those targets.
A caller may smooth these normalizers over iterations (``smooth_normalizer``), as Detectron2's
FCOS divides by a moving average of the positives.
"""

from typing import Callable, Dict, Optional, Tuple

import torch
from fvcore.nn import sigmoid_focal_loss_jit
from torch import Tensor
from torch.nn import functional as F
from torchvision.ops import generalized_box_iou_loss

from anchorfree.modeling.distributed import mean_over_workers

__all__ = ["BOX_LOSS_TYPES", "centerness_targets", "fcos_losses", "iou_loss"]

BOX_LOSS_TYPES = ("giou", "iou", "linear_iou")


def centerness_targets(ltrb: Tensor) -> Tensor:
    """``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` for (..., 4) positive distances."""
    left_right = ltrb[..., [0, 2]]
    top_bottom = ltrb[..., [1, 3]]
    ratio = (left_right.min(dim=-1).values / left_right.max(dim=-1).values) * (
        top_bottom.min(dim=-1).values / top_bottom.max(dim=-1).values
    )
    return torch.sqrt(ratio)


def _ltrb_to_boxes(ltrb: Tensor) -> Tensor:
    """Distances from a point to boxes as XYXY boxes around that point, put at the origin."""
    left, top, right, bottom = ltrb.unbind(dim=-1)
    return torch.stack([-left, -top, right, bottom], dim=-1)


def iou_loss(
    pred: Tensor,
    target: Tensor,
    loss_type: str = "giou",
    eps: float = 1e-7,
    *,
    smoothing: float = 0.0,
) -> Tensor:
    """
    Per-element IoU-family loss between predicted and target ``(l, t, r, b)`` distances from the
    same points, shape (P, 4) each, non-negative.

    * ``"giou"``: ``1 - GIoU`` (torchvision's ``generalized_box_iou_loss``);
    * ``"iou"``: ``-log(IoU)`` (UnitBox, the first FCOS paper);
    * ``"linear_iou"``: ``1 - IoU``.

    ``IoU = I / U`` (``U`` at least ``eps``) by default. ``smoothing = s > 0`` gives
    ``IoU = (I + s) / (U + s)``, as both original implementations compute it with ``s = 1``
    (tianzhi0549/FCOS ``fcos_core/layers/iou_loss.py``, AdelaiDet ``adet/utils/comm.py``
    ``compute_ious``): in the units of the distances, so with stride-normalized targets the
    added 1 is one stride. GIoU is then that IoU minus ``(C - U) / C`` for the enclosing area
    ``C`` (at least ``eps``), unsmoothed as in both.

    Returns: (P,) losses.
    """
    if loss_type not in BOX_LOSS_TYPES:
        raise ValueError(f"Unknown box loss type '{loss_type}': use one of {BOX_LOSS_TYPES}")
    if loss_type == "giou" and smoothing == 0:
        return generalized_box_iou_loss(_ltrb_to_boxes(pred), _ltrb_to_boxes(target), eps=eps)
    pred_area = (pred[:, 0] + pred[:, 2]) * (pred[:, 1] + pred[:, 3])
    target_area = (target[:, 0] + target[:, 2]) * (target[:, 1] + target[:, 3])
    inter_w = torch.min(pred[:, 0], target[:, 0]) + torch.min(pred[:, 2], target[:, 2])
    inter_h = torch.min(pred[:, 1], target[:, 1]) + torch.min(pred[:, 3], target[:, 3])
    inter = inter_w * inter_h
    union = pred_area + target_area - inter
    iou = (inter + smoothing) / (union + smoothing).clamp(min=eps)
    if loss_type == "giou":
        enclosing_w = torch.max(pred[:, 0], target[:, 0]) + torch.max(pred[:, 2], target[:, 2])
        enclosing_h = torch.max(pred[:, 1], target[:, 1]) + torch.max(pred[:, 3], target[:, 3])
        enclosing = (enclosing_w * enclosing_h).clamp(min=eps)
        return 1.0 - (iou - (enclosing - union) / enclosing)
    if loss_type == "iou":
        return -torch.log(iou.clamp(min=eps))
    return 1.0 - iou


def fcos_losses(
    pred_logits: Tensor,
    pred_box: Tensor,
    pred_ctrness: Tensor,
    labels: Tensor,
    box_targets: Tensor,
    *,
    num_classes: int,
    focal_loss_alpha: float = 0.25,
    focal_loss_gamma: float = 2.0,
    box_loss_type: str = "giou",
    iou_smoothing: float = 0.0,
    centerness_weighted_box_loss: bool = True,
    smooth_normalizer: Optional[Callable[[str, float], float]] = None,
) -> Tuple[Dict[str, Tensor], Dict[str, float]]:
    """
    Args:
        pred_logits: (N, R, num_classes) class logits.
        pred_box: (N, R, 4) predicted distances, in the units of ``box_targets``.
        pred_ctrness: (N, R) centerness logits.
        labels: (N, R) class, ``num_classes`` for background, -1 to ignore.
        box_targets: (N, R, 4) target distances of positive points.
        iou_smoothing: ``smoothing`` of :func:`iou_loss` (1 in the original implementations).
        smooth_normalizer: ``(name, value) -> divisor``, called with each normalizer of this
            batch (``"positives"``; ``"centerness"``, the sum of the centerness targets, when
            the box loss is weighted by them); None: divide by this batch's.

    Returns:
        The losses ``loss_fcos_cls``, ``loss_fcos_loc``, ``loss_fcos_ctr``, and statistics
        (``num_pos``: positives in this worker's batch; ``normalizer``).
    """
    positive = (labels >= 0) & (labels != num_classes)
    num_pos_local = int(positive.sum().item())
    normalizer = max(mean_over_workers(num_pos_local), 1.0)
    if smooth_normalizer is not None:
        normalizer = smooth_normalizer("positives", normalizer)

    valid = labels >= 0
    if bool(valid.all()):
        logits, valid_labels = pred_logits, labels
    else:
        logits, valid_labels = pred_logits[valid], labels[valid]
    cls_targets = F.one_hot(valid_labels, num_classes=num_classes + 1)[..., :num_classes]
    loss_cls = sigmoid_focal_loss_jit(
        logits,
        cls_targets.to(logits.dtype),
        alpha=focal_loss_alpha,
        gamma=focal_loss_gamma,
        reduction="sum",
    )

    # IoU terms in float32 also under mixed precision.
    box_pred = pred_box[positive].float()
    box_target = box_targets[positive].float()
    ctr_pred = pred_ctrness[positive].float()
    ctr_target = centerness_targets(box_target)
    if num_pos_local > 0:
        box_losses = iou_loss(box_pred, box_target, box_loss_type, smoothing=iou_smoothing)
        loss_ctr = F.binary_cross_entropy_with_logits(ctr_pred, ctr_target, reduction="sum")
    else:
        # Keep the graph connected (zero gradients) for DDP and empty images.
        box_losses = box_pred.sum(dim=1) * 0.0
        loss_ctr = ctr_pred.sum() * 0.0
    if centerness_weighted_box_loss:
        box_normalizer = max(mean_over_workers(ctr_target.sum().item()), 1e-6)
        if smooth_normalizer is not None:
            box_normalizer = smooth_normalizer("centerness", box_normalizer)
        loss_box = (box_losses * ctr_target).sum() / box_normalizer
    else:
        loss_box = box_losses.sum() / normalizer
    losses = {
        "loss_fcos_cls": loss_cls / normalizer,
        "loss_fcos_loc": loss_box,
        "loss_fcos_ctr": loss_ctr / normalizer,
    }
    return losses, {"num_pos": num_pos_local, "normalizer": normalizer}
