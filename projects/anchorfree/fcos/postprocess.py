"""
FCOS inference: from dense per-level predictions to detections.

Per image and level: keep (point, class) pairs whose classification probability exceeds
``score_thresh`` (before centerness, as the original implementations do; or their final score
``sqrt(cls * centerness)``, as Detectron2's FCOS does, with ``threshold_on="score"``), then the
``topk_candidates`` of those by ``cls * centerness``; decode their boxes (``point -/+
distances``, times the stride when the head predicts in stride units) and clip them to the
image. Over all levels: class-aware NMS,
then the ``max_detections_per_image`` best. The score is ``sqrt(cls * centerness)``.

Box conventions of the original implementations, as options (defaults: Detectron2's):

* ``clip_before_nms=False``: boxes go through NMS unclipped (AdelaiDet, whose Detectron2
  ``detector_postprocess`` clips them after rescaling; ours clips there too).
* ``pixel_offset=1``: maskrcnn-benchmark's integer-pixel boxes (tianzhi0549/FCOS,
  ``TO_REMOVE = 1``): clipped to ``[0, W - 1] x [0, H - 1]``, and NMS overlaps from areas
  ``(x1 - x0 + 1) * (y1 - y0 + 1)`` (its ``ml_nms`` kernel), which is the usual IoU of the
  boxes with ``x1, y1`` moved by +1.
"""

import math
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from anchorfree.modeling.graph_ops import class_aware_nms, clip_boxes, min_size

from detectron2.layers import batched_nms
from detectron2.structures import Boxes, Instances

__all__ = ["FCOSPostprocessor", "THRESHOLD_ON", "boxes_from_ltrb"]

THRESHOLD_ON = ("cls", "score")


def boxes_from_ltrb(points: Tensor, distances: Tensor) -> Tensor:
    """(P, 2) points and (P, 4) ``(l, t, r, b)`` pixel distances -> (P, 4) XYXY boxes."""
    return torch.cat([points - distances[:, :2], points + distances[:, 2:]], dim=1)


class FCOSPostprocessor:
    """Turns FCOS head outputs into per-image ``Instances`` (see the module docstring)."""

    def __init__(
        self,
        *,
        score_thresh: float = 0.05,
        threshold_on: str = "cls",
        topk_candidates: int = 1000,
        nms_thresh: float = 0.6,
        max_detections_per_image: int = 100,
        normalize_by_stride: bool = True,
        clip_before_nms: bool = True,
        pixel_offset: int = 0,
    ):
        """
        Args:
            score_thresh: minimum classification probability (before centerness) of a
                candidate, or minimum final score; in [0, 1).
            threshold_on: ``"cls"``: ``score_thresh`` applies to the classification
                probability (tianzhi0549/FCOS, AdelaiDet); ``"score"``: to
                ``sqrt(cls * centerness)`` (Detectron2's FCOS), which keeps the candidates
                with ``cls * centerness > score_thresh ** 2``.
            topk_candidates: candidates kept per level and image, ranked by ``cls*centerness``.
            nms_thresh: IoU threshold of the per-class NMS.
            max_detections_per_image: detections kept per image after NMS.
            normalize_by_stride: box distances are in stride units (multiplied by the stride).
            clip_before_nms: clip the boxes to the image before NMS (else leave them as
                decoded; see the module docstring).
            pixel_offset: 0 (continuous coordinates) or 1 (maskrcnn-benchmark's pixel
                convention: clip to ``size - 1``, NMS areas ``(w + 1) * (h + 1)``).
        """
        if pixel_offset not in (0, 1):
            raise ValueError(f"pixel_offset must be 0 or 1, got {pixel_offset}")
        if not 0.0 <= score_thresh < 1.0:
            raise ValueError(f"score_thresh must be in [0, 1), got {score_thresh}")
        if threshold_on not in THRESHOLD_ON:
            raise ValueError(f"threshold_on must be one of {THRESHOLD_ON}, got '{threshold_on}'")
        self.score_thresh = float(score_thresh)
        self.threshold_on = threshold_on
        self.topk_candidates = int(topk_candidates)
        self.nms_thresh = float(nms_thresh)
        self.max_detections_per_image = int(max_detections_per_image)
        self.normalize_by_stride = bool(normalize_by_stride)
        self.clip_before_nms = bool(clip_before_nms)
        self.pixel_offset = int(pixel_offset)
        # Thresholding logits avoids a sigmoid over every (point, class).
        self._logit_thresh = (
            -math.inf if score_thresh == 0 else math.log(score_thresh / (1.0 - score_thresh))
        )

    @torch.no_grad()
    def __call__(
        self,
        points: Sequence[Tensor],
        strides: Sequence[int],
        pred_logits: Sequence[Tensor],
        pred_box: Sequence[Tensor],
        pred_ctrness: Sequence[Tensor],
        image_sizes: Sequence[Tuple[int, int]],
    ) -> List[Instances]:
        """
        Args:
            points: per level, (R_l, 2) point coordinates ``(x, y)``.
            strides: per level, its stride.
            pred_logits: per level, (N, R_l, num_classes) class logits.
            pred_box: per level, (N, R_l, 4) predicted distances (non-negative).
            pred_ctrness: per level, (N, R_l, 1) centerness logits.
            image_sizes: per image, (height, width) to clip the boxes to.

        Returns:
            Per image, ``Instances`` with ``pred_boxes``, ``scores``, ``pred_classes``.
        """
        return [
            self._single_image(
                points,
                strides,
                [x[i] for x in pred_logits],
                [x[i] for x in pred_box],
                [x[i] for x in pred_ctrness],
                image_size,
            )
            for i, image_size in enumerate(image_sizes)
        ]

    def _single_image(self, points, strides, logits, box, ctrness, image_size) -> Instances:
        all_boxes, all_scores, all_classes = [], [], []
        for points_l, stride, logits_l, box_l, ctr_l in zip(points, strides, logits, box, ctrness):
            if self.threshold_on == "cls":
                point_idx, class_idx = (logits_l > self._logit_thresh).nonzero(as_tuple=True)
                scores = logits_l[point_idx, class_idx].sigmoid() * ctr_l[point_idx, 0].sigmoid()
            else:
                all_pairs = logits_l.sigmoid() * ctr_l.sigmoid()
                point_idx, class_idx = self._candidates(logits_l, all_pairs).nonzero(as_tuple=True)
                scores = all_pairs[point_idx, class_idx]
            if scores.numel() > self.topk_candidates:
                scores, keep = scores.topk(self.topk_candidates, sorted=False)
                point_idx, class_idx = point_idx[keep], class_idx[keep]
            distances = box_l[point_idx]
            if self.normalize_by_stride:
                distances = distances * stride
            all_boxes.append(boxes_from_ltrb(points_l[point_idx], distances))
            all_scores.append(scores)
            all_classes.append(class_idx)
        boxes = self._clip(torch.cat(all_boxes), image_size)
        scores = torch.cat(all_scores)
        classes = torch.cat(all_classes)
        keep = batched_nms(self._nms_boxes(boxes), scores, classes, self.nms_thresh)
        keep = keep[: self.max_detections_per_image]
        return Instances(
            image_size,
            pred_boxes=Boxes(boxes[keep]),
            scores=torch.sqrt(scores[keep]),
            pred_classes=classes[keep],
        )

    def _candidates(self, logits: Tensor, scores: Tensor) -> Tensor:
        """Which (point, class) pairs pass the threshold, from their logits and their
        ``cls * centerness`` (both (R, num_classes))."""
        if self.threshold_on == "cls":
            return logits > self._logit_thresh
        return scores > self.score_thresh**2

    def _clip(self, boxes: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """(R, 4) boxes clipped as the options say (see the module docstring)."""
        if not self.clip_before_nms:
            return boxes
        height, width = image_size
        return clip_boxes(boxes, (height - self.pixel_offset, width - self.pixel_offset))

    def _nms_boxes(self, boxes: Tensor) -> Tensor:
        """The boxes whose usual IoU is the NMS overlap of this pixel convention."""
        if self.pixel_offset == 0:
            return boxes
        return boxes + boxes.new_tensor([0.0, 0.0, 1.0, 1.0]) * self.pixel_offset

    def select_graph(
        self,
        points: Sequence[Tensor],
        strides: Sequence[int],
        logits: Sequence[Tensor],
        box: Sequence[Tensor],
        ctrness: Sequence[Tensor],
        image_size: Tuple[int, int],
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """
        One image's detections with tensor operations only, for the exported graph
        (``boxes``, ``scores``, ``classes``). Per level, as :meth:`__call__` takes them: it
        thresholds, then ranks the survivors only where there are more than
        ``topk_candidates`` (a branch on the data, which a graph cannot hold); here every
        (point, class) pair is ranked, with those under the threshold marked -1, the top
        ``topk_candidates`` kept and the marked ones dropped - the same candidates.

        Args:
            points, strides: as :meth:`__call__`.
            logits, box, ctrness: per level, ``(R_l, num_classes)``, ``(R_l, 4)``,
                ``(R_l, 1)`` of the one image.
            image_size: ``(height, width)`` to clip to.
        """
        all_boxes, all_scores, all_classes = [], [], []
        for points_l, stride, logits_l, box_l, ctr_l in zip(points, strides, logits, box, ctrness):
            num_classes = logits_l.shape[1]
            scores = logits_l.sigmoid() * ctr_l.sigmoid()
            scores = scores.masked_fill(~self._candidates(logits_l, scores), -1.0).flatten()
            scores, index = scores.topk(min_size(self.topk_candidates, scores.shape[0]))
            kept = scores >= 0
            scores, index = scores[kept], index[kept]
            point_idx = torch.div(index, num_classes, rounding_mode="floor")
            distances = box_l[point_idx]
            if self.normalize_by_stride:
                distances = distances * stride
            all_boxes.append(boxes_from_ltrb(points_l[point_idx], distances))
            all_scores.append(scores)
            all_classes.append(index - point_idx * num_classes)
        boxes = self._clip(torch.cat(all_boxes), image_size)
        scores = torch.cat(all_scores)
        classes = torch.cat(all_classes)
        nms_boxes = self._nms_boxes(boxes)
        if not self.clip_before_nms:
            # class_aware_nms separates the classes by offsets above the coordinates of boxes
            # inside the image; unclipped ones are moved (which keeps their overlaps) into
            # [0, span] and that span given as the image's size.
            coordinates = torch.cat([nms_boxes.flatten(), nms_boxes.new_zeros(1)])
            low = coordinates.min()
            span = coordinates.max() - low
            nms_boxes, image_size = nms_boxes - low, (span, span)
        keep = class_aware_nms(nms_boxes, scores, classes, self.nms_thresh, image_size)
        keep = keep[: self.max_detections_per_image]
        return boxes[keep], torch.sqrt(scores[keep]), classes[keep]
