"""
Soft-NMS (Bodla et al., ICCV 2017, Algorithm 1), class-aware: CornerNet's suppression, and
CenterNet's merge of the detections of several test scales.

Repeatedly select the box of highest current score; decay the score of every remaining box of
the same class by a function of its IoU with the selected box:

* ``"gaussian"``: ``s <- s * exp(-iou^2 / sigma)`` (CornerNet and CenterNet: sigma 0.5);
* ``"linear"``: ``s <- s * (1 - iou)`` where ``iou >= iou_threshold``, unchanged elsewhere;

and discard boxes whose score falls below ``score_threshold``. Scores only decrease, so boxes
are selected in decreasing order of their final scores, and the first ``max_detections``
selected are the ``max_detections`` best: the loop stops there.

Implementation: the pairwise decay factors are computed once as an ``[M, M]`` matrix (zero
IoU across classes); each step is then a few vectorized operations over all boxes, with no host
synchronization, and there are at most ``max_detections`` steps.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["SOFT_NMS_METHODS", "batched_soft_nms", "soft_nms_decay"]

SOFT_NMS_METHODS = ("gaussian", "linear")


def soft_nms_decay(iou: Tensor, method: str, sigma: float, iou_threshold: float) -> Tensor:
    """The factor by which a score is multiplied given its IoU with the selected box."""
    if method == "gaussian":
        return torch.exp(-(iou * iou) / sigma)
    if method == "linear":
        return torch.where(iou >= iou_threshold, 1 - iou, torch.ones_like(iou))
    raise ValueError(f"Soft-NMS method must be one of {SOFT_NMS_METHODS}, got {method!r}")


@torch.no_grad()
def batched_soft_nms(
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    *,
    method: str = "gaussian",
    sigma: float = 0.5,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.001,
    max_detections: Optional[int] = None,
) -> Tuple[Tensor, Tensor]:
    """
    Class-aware soft-NMS (see the module docstring).

    Args:
        boxes: ``[M, 4]`` XYXY.
        scores: ``[M]``, non-negative (probabilities).
        classes: ``[M]`` int64; boxes of different classes never decay each other.
        method: "gaussian" or "linear".
        sigma: of the Gaussian decay.
        iou_threshold: of the linear decay.
        score_threshold: boxes whose (decayed) score is below it are discarded.
        max_detections: stop after this many selections (None: no limit).

    Returns:
        ``(keep, new_scores)``: indices into ``boxes`` of the kept boxes, in decreasing order
        of their decayed scores ``new_scores``.
    """
    if method not in SOFT_NMS_METHODS:
        raise ValueError(f"Soft-NMS method must be one of {SOFT_NMS_METHODS}, got {method!r}")
    if score_threshold < 0:
        raise ValueError(f"score_threshold must be >= 0, got {score_threshold}")
    num_boxes = boxes.shape[0]
    steps = num_boxes if max_detections is None else min(num_boxes, int(max_detections))
    if steps == 0:
        return scores.new_zeros(0, dtype=torch.long), scores.new_zeros(0)
    same_class = classes[:, None] == classes[None, :]
    iou = box_iou(boxes.float(), boxes.float()) * same_class
    decay = soft_nms_decay(iou, method, sigma, iou_threshold)

    current = scores.float().clone()
    alive = current >= score_threshold
    selected = torch.empty(steps, dtype=torch.long, device=boxes.device)
    selected_scores = torch.empty(steps, device=boxes.device)
    for step in range(steps):
        candidates = current.masked_fill(~alive, -1.0)
        best = candidates.argmax()
        selected[step] = best
        # -1 marks a step taken after every box was selected or discarded.
        selected_scores[step] = candidates[best]
        alive[best] = False
        current = current * decay[best]
        alive &= current >= score_threshold
    valid = selected_scores >= 0
    return selected[valid], selected_scores[valid].to(scores.dtype)
