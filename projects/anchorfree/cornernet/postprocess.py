"""
CornerNet inference (Law & Deng, ECCV 2018, Sec. 4.1): from corner heatmaps, embeddings and
offsets to detections.

Per image:

1. corner probabilities (the model's sigmoid of each heatmap, clamped to ``prob_clamp`` as in
   the loss unless the model's ``clamp_test_probs`` is off): cells that are not the maximum of
   their 3x3 neighbourhood are zeroed (the max-pool replacement for NMS on corners);
2. the ``topk`` best top-left and the ``topk`` best bottom-right corners over all classes; a
   corner's position is ``(cell + offset) * stride`` in input pixels;
3. all ``topk x topk`` (top-left, bottom-right) pairs at once, as ``[N, K, K]`` tensors. A pair is
   rejected when its corners have different classes, when their embeddings differ by more than
   ``embedding_thresh``, or when the bottom-right corner is not strictly below and right of the
   top-left one (``x_br > x_tl`` and ``y_br > y_tl``, on the decoded positions; ``>=`` with
   ``keep_zero_size_boxes``, the original code's rule). Pairing is this thresholding over all
   pairs, not a matching: a corner may be part of several boxes;
4. a box's score is the mean of its two corner probabilities; the ``max_candidates`` best valid
   pairs are kept (CornerNet keeps 1000);
5. boxes are clipped to the image (boxes left empty are dropped, unless
   ``keep_zero_size_boxes``: the original code keeps every clipped box) and suppressed with
   class-aware soft-NMS (Gaussian, as in CornerNet, or linear; the ``soft_nms_*`` switches are
   those of :func:`~anchorfree.modeling.soft_nms.batched_soft_nms`), hard NMS, or not at all;
   the ``max_detections_per_image`` best with a score of at least ``score_thresh`` are
   returned (with ``soft_nms_discard_overlapping_only``, boxes that nothing overlapped also
   below it).

Steps 1-4 are :meth:`CornerNetPostprocessor.decode` and step 5 is
:meth:`CornerNetPostprocessor.select`, so that flip testing can merge the candidates of an
image and its mirror image before step 5, as CornerNet does; so does the multi-scale test
with the candidates of every scale (CornerNet's ``test/coco.py``: at each scale the image and
its mirror decoded, boxes divided by the scale; all of them through soft-NMS per class, then
the ``max_per_image`` best).
"""

from typing import List, NamedTuple, Sequence, Tuple

import torch
from torch import Tensor

from anchorfree.modeling.graph_ops import min_size
from anchorfree.modeling.peaks import gather_at, suppress_non_peaks, topk_peaks
from anchorfree.modeling.soft_nms import batched_soft_nms
from anchorfree.modeling.test_time_augmentation import concat_detections, mirror_boxes

from detectron2.layers import batched_nms
from detectron2.structures import Boxes, Instances

from .head import CornerPredictions

__all__ = [
    "NMS_TYPES",
    "CornerCandidates",
    "CornerNetPostprocessor",
    "flip_candidates",
    "merge_candidates",
]

NMS_TYPES = ("soft_gaussian", "soft_linear", "hard", "none")


class CornerCandidates(NamedTuple):
    """Paired corners of one image before suppression."""

    boxes: Tensor  # [P, 4] XYXY input pixels, not clipped
    scores: Tensor  # [P]
    classes: Tensor  # [P] int64


def flip_candidates(candidates: CornerCandidates, width: int) -> CornerCandidates:
    """Candidates decoded on a horizontally mirrored image of ``width`` pixels, mapped back:
    ``x -> width - x`` (the mirrored right side is the left side)."""
    return candidates._replace(boxes=mirror_boxes(candidates.boxes, width))


def merge_candidates(*candidates: CornerCandidates) -> CornerCandidates:
    """The candidates of several decodings of one image, as one set."""
    return CornerCandidates(*concat_detections(candidates))


class CornerNetPostprocessor:
    """Turns one CornerNet head's outputs into per-image ``Instances`` (see the module
    docstring)."""

    def __init__(
        self,
        *,
        topk: int = 100,
        peak_kernel: int = 3,
        embedding_thresh: float = 0.5,
        max_candidates: int = 1000,
        nms_type: str = "soft_gaussian",
        nms_thresh: float = 0.5,
        soft_nms_sigma: float = 0.5,
        score_thresh: float = 0.001,
        max_detections_per_image: int = 100,
        keep_zero_size_boxes: bool = False,
        soft_nms_legacy_plus_one: bool = False,
        soft_nms_strict_linear_threshold: bool = False,
        soft_nms_discard_overlapping_only: bool = False,
    ):
        """
        Args:
            topk: corners kept per corner type and image.
            peak_kernel: odd side of the max-pool window of the peak test.
            embedding_thresh: largest embedding distance of a valid pair.
            max_candidates: best valid pairs kept before suppression.
            nms_type: "soft_gaussian", "soft_linear", "hard" or "none".
            nms_thresh: IoU threshold of the linear soft-NMS and of the hard NMS.
            soft_nms_sigma: of the Gaussian soft-NMS.
            score_thresh: smallest score of a detection (after soft-NMS decay).
            max_detections_per_image: detections returned per image.
            keep_zero_size_boxes: pair corners with ``x_br >= x_tl`` and ``y_br >= y_tl``
                (not ``>``) and keep boxes that clipping leaves empty: the original code's
                (``kp_utils.py`` ``_decode`` rejects only ``br < tl``; ``test/coco.py`` clips
                and drops nothing).
            soft_nms_legacy_plus_one, soft_nms_strict_linear_threshold,
                soft_nms_discard_overlapping_only: the switches of ``batched_soft_nms`` that
                reproduce the original ``nms.pyx`` (``legacy_plus_one``,
                ``strict_linear_threshold``, ``discard_overlapping_only``).
        """
        if nms_type not in NMS_TYPES:
            raise ValueError(f"nms_type must be one of {NMS_TYPES}, got {nms_type!r}")
        if score_thresh < 0:
            raise ValueError(f"score_thresh must be >= 0, got {score_thresh}")
        self.topk = int(topk)
        self.peak_kernel = int(peak_kernel)
        self.embedding_thresh = float(embedding_thresh)
        self.max_candidates = int(max_candidates)
        self.nms_type = nms_type
        self.nms_thresh = float(nms_thresh)
        self.soft_nms_sigma = float(soft_nms_sigma)
        self.score_thresh = float(score_thresh)
        self.max_detections_per_image = int(max_detections_per_image)
        self.keep_zero_size_boxes = bool(keep_zero_size_boxes)
        self.soft_nms_options = dict(
            legacy_plus_one=bool(soft_nms_legacy_plus_one),
            strict_linear_threshold=bool(soft_nms_strict_linear_threshold),
            discard_overlapping_only=bool(soft_nms_discard_overlapping_only),
        )

    def _corners(self, probs: Tensor, embedding: Tensor, offset: Tensor, stride: int):
        """Top-K corners: peaks, their ``[N, K]`` embeddings and x, y positions in pixels."""
        scores = suppress_non_peaks(probs, self.peak_kernel)
        peaks = topk_peaks(scores, self.topk)
        embeddings = gather_at(embedding.float(), peaks.ys, peaks.xs)[..., 0]
        offsets = gather_at(offset.float(), peaks.ys, peaks.xs)
        xs = (peaks.xs + offsets[..., 0]) * stride
        ys = (peaks.ys + offsets[..., 1]) * stride
        return peaks, embeddings, xs, ys

    @torch.no_grad()
    def decode(self, predictions: CornerPredictions, stride: int) -> List[CornerCandidates]:
        """Steps 1-4: per image, the valid corner pairs, at most ``max_candidates``.
        ``predictions`` as in :meth:`__call__`."""
        tl, tl_emb, tl_x, tl_y = self._corners(
            predictions.tl_heatmap, predictions.tl_embedding, predictions.tl_offset, stride
        )
        br, br_emb, br_x, br_y = self._corners(
            predictions.br_heatmap, predictions.br_embedding, predictions.br_offset, stride
        )
        # [N, K_tl, K_br]: top-left corners along dim 1, bottom-right corners along dim 2.
        valid = tl.classes[:, :, None] == br.classes[:, None, :]
        valid &= (tl_emb[:, :, None] - br_emb[:, None, :]).abs() <= self.embedding_thresh
        if self.keep_zero_size_boxes:
            valid &= br_x[:, None, :] >= tl_x[:, :, None]
            valid &= br_y[:, None, :] >= tl_y[:, :, None]
        else:
            valid &= br_x[:, None, :] > tl_x[:, :, None]
            valid &= br_y[:, None, :] > tl_y[:, :, None]
        scores = (tl.scores[:, :, None] + br.scores[:, None, :]) / 2
        # Probabilities are positive: -1 marks rejected pairs.
        scores = scores.masked_fill(~valid, -1.0).flatten(1)
        num_br = br.scores.shape[1]
        top_scores, top_pairs = scores.topk(min_size(self.max_candidates, scores.shape[1]), dim=1)
        tl_index = torch.div(top_pairs, num_br, rounding_mode="floor")
        # Not ``top_pairs % num_br``: the ONNX exporter cannot take a remainder by a graph value.
        br_index = top_pairs - tl_index * num_br
        boxes = torch.stack(
            [
                tl_x.gather(1, tl_index),
                tl_y.gather(1, tl_index),
                br_x.gather(1, br_index),
                br_y.gather(1, br_index),
            ],
            dim=2,
        )
        classes = tl.classes.gather(1, tl_index)
        keep = top_scores >= 0
        return [
            CornerCandidates(
                boxes=boxes[i][keep[i]], scores=top_scores[i][keep[i]], classes=classes[i][keep[i]]
            )
            for i in range(boxes.shape[0])
        ]

    @torch.no_grad()
    def select(self, candidates: CornerCandidates, image_size: Tuple[int, int]) -> Instances:
        """Step 5: clip to ``image_size`` ``(height, width)``, suppress, keep the best."""
        boxes = Boxes(candidates.boxes.clone())
        boxes.clip(image_size)
        scores, classes = candidates.scores, candidates.classes
        if not self.keep_zero_size_boxes:
            nonempty = boxes.nonempty()
            boxes, scores, classes = boxes[nonempty], scores[nonempty], classes[nonempty]
        max_detections = self.max_detections_per_image
        if self.nms_type.startswith("soft_"):
            keep, scores = batched_soft_nms(
                boxes.tensor,
                scores,
                classes,
                method=self.nms_type[len("soft_") :],
                sigma=self.soft_nms_sigma,
                iou_threshold=self.nms_thresh,
                score_threshold=self.score_thresh,
                max_detections=max_detections,
                **self.soft_nms_options,
            )
        else:
            above = (scores >= self.score_thresh).nonzero().flatten()
            if self.nms_type == "hard":
                keep = above[
                    batched_nms(boxes.tensor[above], scores[above], classes[above], self.nms_thresh)
                ]
            else:
                keep = above[scores[above].argsort(descending=True)]
            keep = keep[:max_detections]
            scores = scores[keep]
        return Instances(
            image_size, pred_boxes=boxes[keep], scores=scores, pred_classes=classes[keep]
        )

    def __call__(
        self,
        predictions: CornerPredictions,
        stride: int,
        image_sizes: Sequence[Tuple[int, int]],
    ) -> List[Instances]:
        """
        Args:
            predictions: one head's outputs for ``N`` images, with the heatmaps as
                probabilities (``CornerNet.heatmap_probs``: the sigmoid, float32, clamped
                unless ``clamp_test_probs`` is off).
            stride: input pixels per output cell.
            image_sizes: per image, ``(height, width)`` of its unpadded input.

        Returns:
            Per image, ``Instances`` with ``pred_boxes``, ``scores``, ``pred_classes``, in input
            pixels.
        """
        candidates = self.decode(predictions, stride)
        return [self.select(c, size) for c, size in zip(candidates, image_sizes)]
