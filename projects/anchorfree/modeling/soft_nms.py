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

The defaults are the paper's algorithm on continuous coordinates. Three keyword switches
reproduce the ``soft_nms`` of the CornerNet code (``external/nms.pyx``, also CenterNet's):

* ``legacy_plus_one``: widths, heights and intersections are ``x2 - x1 + 1`` (boxes of
  inclusive pixel indices), so boxes less than a pixel apart overlap;
* ``strict_linear_threshold``: the linear decay applies where ``iou > iou_threshold``;
* ``discard_overlapping_only``: a box is compared with ``score_threshold`` only right after a
  selected box that overlaps it (positive intersection) has decayed it. ``nms.pyx`` tests the
  threshold inside ``if iw > 0:`` / ``if ih > 0:`` and never tests the initial scores, so a box
  that no box selected before it overlaps is kept at any score (always the best box of each
  class).

Ties between equal scores may be selected in another order than ``nms.pyx``'s (which depends
on its in-place swaps); the selected boxes' final scores are the same.

Implementation: the pairwise decay factors are computed once as an ``[M, M]`` matrix (zero
IoU across classes); each step is then a few vectorized operations over all boxes, with no host
synchronization, and there are at most ``max_detections`` steps.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["ORIGINAL_NMS_PYX", "SOFT_NMS_METHODS", "batched_soft_nms", "soft_nms_decay"]

SOFT_NMS_METHODS = ("gaussian", "linear")


# The options under which batched_soft_nms computes what the original CornerNet's (and
# CenterNet's copy of it) external/nms.pyx soft_nms computes: +1 sizes, linear decay where
# IoU > Nt, the score threshold applied only to boxes that a selected box overlaps.
ORIGINAL_NMS_PYX = dict(
    legacy_plus_one=True, strict_linear_threshold=True, discard_overlapping_only=True
)


def soft_nms_decay(
    iou: Tensor, method: str, sigma: float, iou_threshold: float, strict: bool = False
) -> Tensor:
    """The factor by which a score is multiplied given its IoU with the selected box; with
    ``strict``, the linear decay applies where ``iou > iou_threshold`` (else ``>=``)."""
    if method == "gaussian":
        return torch.exp(-(iou * iou) / sigma)
    if method == "linear":
        above = iou > iou_threshold if strict else iou >= iou_threshold
        return torch.where(above, 1 - iou, torch.ones_like(iou))
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
    legacy_plus_one: bool = False,
    strict_linear_threshold: bool = False,
    discard_overlapping_only: bool = False,
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
        legacy_plus_one: sizes and intersections ``x2 - x1 + 1`` (CornerNet's ``nms.pyx``).
        strict_linear_threshold: linear decay where ``iou > iou_threshold`` (``nms.pyx``),
            not ``>=``.
        discard_overlapping_only: test ``score_threshold`` only on the boxes that the
            selected box overlaps, after their decay (``nms.pyx``); boxes that no selected box
            overlapped are kept at any score.

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
    boxes = boxes.float()
    if legacy_plus_one:
        # An inclusive box x1..x2 covers x2 - x1 + 1 pixels: as a continuous box, x1..x2+1.
        boxes = boxes + boxes.new_tensor([0.0, 0.0, 1.0, 1.0])
    same_class = classes[:, None] == classes[None, :]
    # nan_to_num: two empty boxes (0/0) do not overlap.
    iou = box_iou(boxes, boxes).nan_to_num(0.0) * same_class
    decay = soft_nms_decay(iou, method, sigma, iou_threshold, strict=strict_linear_threshold)

    current = scores.float().clone()
    if discard_overlapping_only:
        alive = torch.ones_like(current, dtype=torch.bool)
        overlaps = iou > 0
    else:
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
        above = current >= score_threshold
        alive &= (above | ~overlaps[best]) if discard_overlapping_only else above
    valid = selected_scores >= 0
    return selected[valid], selected_scores[valid].to(scores.dtype)
