"""
CenterNet inference ("Objects as Points", Sec. 4): from heatmap scores, sizes and offsets on the
stride-``s`` grid to boxes in input-image pixels.

Per image: non-peaks are suppressed with a 3x3 max-pool (a cell survives if it is the maximum
of its neighbourhood in its class), the ``K`` (100) highest peaks over all classes are kept, and
each peak at cell ``(x, y)`` with offset ``(ox, oy)`` and size ``(w, h)`` becomes the box
``s * (x + ox -/+ w / 2, y + oy -/+ h / 2)``, clipped to the (unpadded) image. Negative
predicted sizes are taken as 0 (``clamp_sizes``; the original decodes them as they are, which
turns such a box inside out). No NMS by default (the max-pool takes its place); optionally a
class-aware NMS.

Score threshold: the paper keeps all K peaks. Suppressed cells score exactly 0, so ``score >
score_thresh`` with the default 0 keeps every real peak of the top K and drops filler cells
when an image has fewer than K peaks. For COCO-style AP, extra detections scored below all
others can only add recall at the end of the ranking (precision is interpolated as the maximum
to the right), so a threshold cannot raise AP; raise it for display.

Flip test (:func:`merge_flipped`): the network also sees each image flipped horizontally; the
heatmap scores and sizes are averaged with the flipped-back predictions of the flipped image,
the offsets are taken from the original image only (flipping would mirror them within the cell).

Multi-scale test (:func:`merge_scales`, the original's ``CtdetDetector.merge_outputs``): the
detections of every scale (each decoded as above, at most K, mapped back to the unscaled
image) are put together; with more than one scale, each class goes through Gaussian soft-NMS
(the original's ``soft_nms(..., Nt=0.5, method=2)``: sigma 0.5, boxes whose score decays
below 0.001 dropped), and the K best over all classes are kept.
"""

from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from anchorfree.modeling.graph_ops import class_aware_nms, clip_boxes
from anchorfree.modeling.peaks import Peaks, gather_at, suppress_non_peaks, topk_peaks
from anchorfree.modeling.soft_nms import batched_soft_nms
from anchorfree.modeling.test_time_augmentation import Detections, concat_detections

from detectron2.structures import Boxes, Instances

__all__ = ["CenterNetPostprocessor", "boxes_from_centers", "merge_flipped", "merge_scales"]

# The soft-NMS of the original's multi-scale merge (external/nms.pyx, soft_nms defaults).
SCALE_MERGE_SIGMA = 0.5
SCALE_MERGE_SCORE_THRESH = 0.001


def merge_flipped(
    scores: Tensor, wh: Tensor, offset: Tensor, num_images: int
) -> Tuple[Tensor, Tensor, Tensor]:
    """
    Args:
        scores, wh, offset: ``[2N, *, H, W]`` predictions for ``N`` images followed by the same
            images flipped horizontally (the padded input flipped as a whole, so that the
            flipped output flipped back lines up cell for cell).
        num_images: ``N``.

    Returns:
        ``[N, *, H, W]``: mean of the scores, mean of the sizes, the offsets of the originals.
    """
    if scores.shape[0] != 2 * num_images:
        raise ValueError(
            f"Expected {2 * num_images} maps (originals, then flipped), got {scores.shape[0]}"
        )
    flipped = slice(num_images, None)
    original = slice(0, num_images)
    merged_scores = (scores[original] + scores[flipped].flip(3)) / 2
    merged_wh = (wh[original] + wh[flipped].flip(3)) / 2
    return merged_scores, merged_wh, offset[original]


def merge_scales(
    sets: Sequence[Detections],
    topk: int,
    *,
    sigma: float = SCALE_MERGE_SIGMA,
    score_thresh: float = SCALE_MERGE_SCORE_THRESH,
) -> Detections:
    """
    One image's detections at several test scales (one set per scale, in the pixels of the
    unscaled image) as one set (see the module docstring): all of them, through class-aware
    Gaussian soft-NMS (``sigma``, dropped below ``score_thresh``) when there is more than one
    set, then the ``topk`` best, by decreasing (decayed) score. Boxes without area (no IoU;
    Detectron2's ``detector_postprocess`` drops them anyway) are left out first.
    """
    boxes, scores, classes = concat_detections(sets)
    nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, classes = boxes[nonempty], scores[nonempty], classes[nonempty]
    if len(sets) > 1:
        keep, scores = batched_soft_nms(
            boxes,
            scores,
            classes,
            method="gaussian",
            sigma=sigma,
            score_threshold=score_thresh,
            max_detections=topk,
        )
    else:
        keep = scores.argsort(descending=True)[:topk]
        scores = scores[keep]
    return Detections(boxes[keep], scores, classes[keep])


def boxes_from_centers(
    xs: Tensor, ys: Tensor, wh: Tensor, offset: Tensor, stride: int, *, clamp_sizes: bool = True
) -> Tensor:
    """
    Args:
        xs, ys: ``[...]`` int64 peak cells.
        wh, offset: ``[..., 2]`` predicted ``(w, h)`` and ``(x, y)`` offsets, in cells.
        stride: output stride.
        clamp_sizes: take negative sizes as 0 (otherwise as they are, as the original).

    Returns:
        ``[..., 4]`` XYXY boxes in input pixels.
    """
    cx = xs.to(offset.dtype) + offset[..., 0]
    cy = ys.to(offset.dtype) + offset[..., 1]
    if clamp_sizes:
        wh = wh.clamp(min=0)
    half_w = wh[..., 0] / 2
    half_h = wh[..., 1] / 2
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1) * stride


class CenterNetPostprocessor:
    """Turns CenterNet predictions into per-image ``Instances`` (see the module docstring)."""

    def __init__(
        self,
        *,
        topk: int = 100,
        score_thresh: float = 0.0,
        peak_kernel: int = 3,
        nms: bool = False,
        nms_thresh: float = 0.5,
        clamp_sizes: bool = True,
    ):
        """
        Args:
            topk: K, the peaks decoded per image (the most detections per image).
            score_thresh: keep peaks whose score is above it; in [0, 1).
            peak_kernel: odd side of the max-pool window of the peak extraction.
            nms: apply class-aware NMS to the decoded boxes (the paper does not).
            nms_thresh: IoU threshold of that NMS.
            clamp_sizes: decode negative predicted sizes as 0; False: as they are (the
                original's ``ctdet_decode``).
        """
        if not 0.0 <= score_thresh < 1.0:
            raise ValueError(f"score_thresh must be in [0, 1), got {score_thresh}")
        self.topk = int(topk)
        self.score_thresh = float(score_thresh)
        self.peak_kernel = int(peak_kernel)
        self.nms = bool(nms)
        self.nms_thresh = float(nms_thresh)
        self.clamp_sizes = bool(clamp_sizes)

    @torch.no_grad()
    def __call__(
        self,
        scores: Tensor,
        wh: Tensor,
        offset: Tensor,
        stride: int,
        image_sizes: Sequence[Tuple[int, int]],
    ) -> List[Instances]:
        """
        Args:
            scores: ``[N, C, H, W]`` heatmap probabilities (clamped sigmoid, or a flip-test
                mean).
            wh: ``[N, 2, H, W]`` sizes ``(w, h)`` in cells.
            offset: ``[N, 2, H, W]`` center offsets ``(x, y)`` in cells.
            stride: output stride in input pixels.
            image_sizes: per image, the unpadded input ``(height, width)`` to clip to.

        Returns:
            Per image, ``Instances`` with ``pred_boxes`` (input pixels), ``scores`` and
            ``pred_classes``, best first, at most ``topk``.
        """
        boxes, peaks = self.peak_boxes(scores, wh, offset, stride)
        results = []
        for i, image_size in enumerate(image_sizes):
            image_boxes, image_scores, image_classes = self.select(
                boxes[i], peaks.scores[i], peaks.classes[i], image_size
            )
            results.append(
                Instances(
                    image_size,
                    pred_boxes=Boxes(image_boxes),
                    scores=image_scores,
                    pred_classes=image_classes,
                )
            )
        return results

    def peak_boxes(
        self, scores: Tensor, wh: Tensor, offset: Tensor, stride: int
    ) -> Tuple[Tensor, Peaks]:
        """The ``K`` best peaks of each image (arguments as :meth:`__call__`) and their
        ``[N, K, 4]`` boxes in input pixels."""
        peaks = topk_peaks(suppress_non_peaks(scores, self.peak_kernel), self.topk)
        boxes = boxes_from_centers(
            peaks.xs,
            peaks.ys,
            gather_at(wh, peaks.ys, peaks.xs),
            gather_at(offset, peaks.ys, peaks.xs),
            stride,
            clamp_sizes=self.clamp_sizes,
        )
        return boxes, peaks

    def select(
        self, boxes: Tensor, scores: Tensor, classes: Tensor, image_size: Tuple[int, int]
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """One image's detections from its peaks (``[K, 4]``, ``[K]``, ``[K]``): those above
        ``score_thresh``, clipped to ``image_size``, optionally through NMS. Tensor operations
        only: it is also the end of the exported graph."""
        keep = scores > self.score_thresh
        boxes, scores, classes = clip_boxes(boxes[keep], image_size), scores[keep], classes[keep]
        if self.nms:
            kept = class_aware_nms(boxes, scores, classes, self.nms_thresh, image_size)
            boxes, scores, classes = boxes[kept], scores[kept], classes[kept]
        return boxes, scores, classes
