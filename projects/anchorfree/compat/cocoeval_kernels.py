"""
The COCO evaluation kernels of Detectron2's compiled ``COCOeval_opt``, in NumPy.

:class:`detectron2.evaluation.fast_eval_api.COCOeval_opt` is pycocotools' ``COCOeval`` with its two
slow loops, ``evaluateImg`` and ``accumulate``, replaced by three names from Detectron2's compiled
extension (``detectron2/layers/csrc/cocoeval/cocoeval.cpp``): :class:`InstanceAnnotation`,
:func:`COCOevalEvaluateImages` and :func:`COCOevalAccumulate`. This module implements them, with
the call signatures of the compiled ones, for the ``detectron2._C`` stand-in (one file over
400 lines: the three names share the ranking and matching helpers, and the module is deleted
with the rest of ``compat`` as a unit). The semantics are those of pycocotools (and of
Detectron2's C++ code, which follows it):

* **Ranking.** The detections of an (image, category) are ranked by descending score with a
  stable sort (equal scores keep their input order) and only the ``max_det`` best are kept.
* **Ignore flags and area ranges.** For each area range, a ground-truth instance is ignored if it
  is flagged ``ignore`` (pycocotools' ``_prepare`` flags every crowd instance) or if its area
  lies outside the range (bounds inclusive).
* **Greedy matching by score.** For each IoU threshold, the detections in rank order each take the
  ground-truth instance of highest IoU, at least the threshold, among those still free; non-ignored
  ground truth is preferred to ignored ground truth whatever the IoUs, and among equal IoUs the
  later instance wins. Matching takes a ground-truth instance for good, except a crowd one, which
  any number of detections may match.
* **Ignored detections.** A detection matched to ignored ground truth is ignored, and so is an
  unmatched detection whose area lies outside the area range; the others are true or false
  positives.
* **Accumulation.** For each category, area range and ``maxDets`` entry, the detections of rank
  below ``maxDets[m]`` of all images are ranked by descending score (stable, in image order), and
  the precision-recall curve they trace is made non-increasing (each precision becomes the best
  precision at any higher recall) and sampled at the recall thresholds ``recThrs``: 101-point
  interpolated precision, with the score of the detection where it was sampled. Entries with no
  non-ignored ground truth stay -1.

The results equal pycocotools' ``COCOeval.eval`` entry for entry, except that precision here is
``tp / (tp + fp)`` exactly, as in Detectron2's C++ code, where pycocotools computes
``tp / (tp + fp + eps)``: where ``tp + fp == 1`` pycocotools gives ``1 - 2.2e-16`` for 1.

As in pycocotools (and not in the C++ code, which reads past the matrix), an (image, category)
whose IoU matrix is empty although it has both detections and ground truth (``computeOks`` with
``useCats=0``) has no matches. Instance ids must be non-negative (the C++ constructor takes
``uint64``); id 0 acts as in both implementations: a match to ground truth of id 0 counts as no
match, and a detection of id 0 does not take the ground truth it matches.
"""

import datetime
import itertools
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple, Union

import numpy as np

__all__ = ["InstanceAnnotation", "ImageEvaluations", "COCOevalEvaluateImages", "COCOevalAccumulate"]

IouMatrix = Union[np.ndarray, Sequence[Sequence[float]]]


class InstanceAnnotation(NamedTuple):
    """One ground-truth or detected instance: ``_C.InstanceAnnotation(id, score, area, is_crowd,
    ignore)``. Ground truth has score 0."""

    id: int
    score: float
    area: float
    is_crowd: bool
    ignore: bool


# Columns of the tables that _instance_table builds: InstanceAnnotation's fields, in order.
_NUM_FIELDS = len(InstanceAnnotation._fields)
_ID, _SCORE, _AREA, _IS_CROWD, _IGNORE = range(_NUM_FIELDS)


@dataclass(frozen=True, eq=False)
class ImageEvaluations:
    """The matches that :func:`COCOevalEvaluateImages` finds, as :func:`COCOevalAccumulate` reads
    them (opaque to ``COCOeval_opt``, like the C++ ``std::vector<ImageEvaluation>``).

    Holds the N kept detections (the ``max_det`` best of each image and category) in order of
    image, category and rank; A is the number of area ranges, T of IoU thresholds, K of
    categories (1 with ``useCats=0``).

    Attributes:
        num_images: number of images I.
        num_categories: number of categories K.
        category: (N,) int64, category index of each detection.
        rank: (N,) int64, rank of each detection among those of its image and category (0: best).
        score: (N,) float64, detection scores.
        true_positive: (A, T, N) bool, detection matched to non-ignored ground truth.
        false_positive: (A, T, N) bool, detection neither matched nor ignored.
        num_gt: (K, A) int64, number of non-ignored ground-truth instances, over all images.
    """

    num_images: int
    num_categories: int
    category: np.ndarray
    rank: np.ndarray
    score: np.ndarray
    true_positive: np.ndarray
    false_positive: np.ndarray
    num_gt: np.ndarray


def _instance_table(
    instances: Sequence[Sequence[Sequence[InstanceAnnotation]]],
    num_images: int,
    num_categories: int,
) -> Tuple[np.ndarray, np.ndarray]:
    """Flatten ``instances[image][category]``, lists of :class:`InstanceAnnotation`.

    Returns ``(table, counts)``: ``table`` (N, 5) float64 holds the fields of all instances (columns
    in field order), in order of image, category and list position; ``counts`` (I * K,) int64 is
    the number of instances of each (image, category) pair, pair ``i * K + k``.
    """
    if len(instances) != num_images or any(len(image) != num_categories for image in instances):
        raise ValueError(
            f"instances must be a list of {num_images} images of {num_categories} categories each, "
            "like the IoU matrices"
        )
    per_pair = [per_category for per_image in instances for per_category in per_image]
    counts = np.fromiter(map(len, per_pair), dtype=np.int64, count=len(per_pair))
    rows = list(itertools.chain.from_iterable(per_pair))
    fields = itertools.chain.from_iterable(rows)
    table = np.fromiter(fields, dtype=np.float64, count=_NUM_FIELDS * len(rows))
    table = table.reshape(len(rows), _NUM_FIELDS)
    if (table[:, _ID] < 0).any():
        raise ValueError("instance ids must be non-negative")
    return table, counts


def _outside(areas: np.ndarray, area_ranges: np.ndarray) -> np.ndarray:
    """(A, N) bool: whether each of the (N,) areas lies outside each of the (A, 2) closed ranges."""
    return (areas < area_ranges[:, :1]) | (areas > area_ranges[:, 1:])


def _starts(counts: np.ndarray) -> np.ndarray:
    """Offsets of consecutive segments of the given (P,) lengths in their concatenation."""
    return np.cumsum(counts) - counts


def _match_bucket(
    flat_ious: np.ndarray,
    iou_start: np.ndarray,
    num_gt: np.ndarray,
    num_det: np.ndarray,
    gt_start: np.ndarray,
    det_start: np.ndarray,
    gt_ignored: np.ndarray,
    gt_crowd: np.ndarray,
    det_claims: np.ndarray,
    thresholds: np.ndarray,
    out: np.ndarray,
) -> None:
    """Greedy matching of n (image, category) pairs at once, for all area ranges and thresholds.

    The pairs are sorted by decreasing ``num_det``, so that those with an r-th detection are a
    prefix; their ground truth is padded to the largest ``num_gt`` (G) of them, so callers group
    pairs of similar ``num_gt``.

    Args:
        flat_ious: concatenated row-major IoU matrices, (num_det[j], num_gt[j]) for pair j.
        iou_start, num_gt, num_det, gt_start, det_start: (n,) int64 per pair: offset of its matrix
            in ``flat_ious``, ground-truth and detection counts, offsets of its ground truth and
            detections in the instance tables.
        gt_ignored: (A, total ground truth) bool, ignore flag of each instance per area range.
        gt_crowd: (total ground truth,) bool.
        det_claims: (total detections,) bool, whether a match takes the ground truth (id != 0).
        thresholds: (T,) float64, IoU thresholds capped at 1 - 1e-10.
        out: (A, T, total detections) int64, receives the row of the matched ground truth in the
            ground-truth table, or -1.
    """
    width = int(num_gt.max())
    column = np.arange(width)
    last_column = num_gt[:, None] - 1
    padded_column = np.minimum(column, last_column)  # (n, G); padding repeats the last column
    gt_row = gt_start[:, None] + padded_column  # (n, G)
    ignored = gt_ignored[:, gt_row][:, None]  # (A, 1, n, G)
    crowd = gt_crowd[gt_row]  # (n, G)
    # taken[a, t, j, g]: ground truth g of pair j is unavailable (padding, or taken by a match).
    taken = np.broadcast_to(column > last_column, (len(gt_ignored), len(thresholds)) + gt_row.shape)
    taken = taken.copy()
    for rank in range(int(num_det[0])):
        k = int(np.count_nonzero(num_det > rank))
        ious = flat_ious[(iou_start[:k] + rank * num_gt[:k])[:, None] + padded_column[:k]]  # (k, G)
        candidate = (ious >= thresholds[:, None, None]) & ~taken[:, :, :k]  # (A, T, k, G)
        regular = candidate & ~ignored[:, :, :k]
        candidate = np.where(regular.any(axis=-1, keepdims=True), regular, candidate)
        # Highest IoU among the candidates, the last one on ties.
        best = width - 1 - np.argmax(np.where(candidate, ious, -np.inf)[..., ::-1], axis=-1)
        found = np.take_along_axis(candidate, best[..., None], axis=-1)[..., 0]  # (A, T, k)
        pairs = np.arange(k)
        det_row = det_start[:k] + rank
        out[:, :, det_row] = np.where(found, gt_row[pairs, best], -1)
        a, t, j = np.nonzero(found & det_claims[det_row] & ~crowd[pairs, best])
        taken[a, t, j, best[a, t, j]] = True


def _match_greedily(
    ious: List[IouMatrix],
    num_gt: np.ndarray,
    num_det: np.ndarray,
    gt_ignored: np.ndarray,
    gt_crowd: np.ndarray,
    det_claims: np.ndarray,
    thresholds: np.ndarray,
) -> np.ndarray:
    """Match the kept detections of every (image, category) pair to its ground truth.

    Args:
        ious: P IoU matrices, one per pair: (>= num_det[p], num_gt[p]) array-like, rows in rank
            order, or empty.
        num_gt, num_det: (P,) int64, ground-truth and kept-detection counts per pair.
        gt_ignored: (A, total ground truth) bool; gt_crowd: (total ground truth,) bool.
        det_claims: (total detections,) bool; thresholds: (T,) float64, see :func:`_match_bucket`.

    Returns:
        (A, T, total detections) int64: row of the matched ground truth in the ground-truth table,
        or -1.
    """
    gt_start, det_start = _starts(num_gt), _starts(num_det)
    matched = np.full((len(gt_ignored), len(thresholds), len(det_claims)), -1, dtype=np.int64)
    matched_pairs, matrices = [], []
    for p in np.flatnonzero((num_gt > 0) & (num_det > 0)):
        if np.size(ious[p]) == 0:
            continue
        matrix = np.asarray(ious[p], dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] < num_det[p] or matrix.shape[1] != num_gt[p]:
            raise ValueError(
                f"IoU matrix of shape {matrix.shape} for {num_det[p]} detections and "
                f"{num_gt[p]} ground-truth instances"
            )
        matched_pairs.append(p)
        matrices.append(matrix[: num_det[p]].ravel())
    if not matched_pairs:
        return matched
    pairs = np.array(matched_pairs)
    flat_ious = np.concatenate(matrices)
    iou_start = _starts(num_gt[pairs] * num_det[pairs])
    # Group pairs by ceil(log2(num_gt)), so that padding at most doubles the work.
    group = np.ceil(np.log2(num_gt[pairs])).astype(np.int64)
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        members = members[np.argsort(-num_det[pairs[members]], kind="stable")]
        p = pairs[members]
        _match_bucket(
            flat_ious,
            iou_start[members],
            num_gt[p],
            num_det[p],
            gt_start[p],
            det_start[p],
            gt_ignored,
            gt_crowd,
            det_claims,
            thresholds,
            matched,
        )
    return matched


def COCOevalEvaluateImages(
    area_ranges: Sequence[Sequence[float]],
    max_det: int,
    iou_thresholds: Sequence[float],
    ious: Sequence[Sequence[IouMatrix]],
    gt_instances: Sequence[Sequence[Sequence[InstanceAnnotation]]],
    dt_instances: Sequence[Sequence[Sequence[InstanceAnnotation]]],
) -> ImageEvaluations:
    """Match detections to ground truth in every image, category, area range and IoU threshold
    (pycocotools' ``COCOeval.evaluateImg`` over all of them).

    Args:
        area_ranges: A ranges ``[min_area, max_area]``.
        max_det: number of best-scored detections kept per image and category.
        iou_thresholds: T IoU thresholds.
        ious: ``ious[i][k]``: IoU matrix of image i and category k, (D', G) with D' the detections
            in rank order cut to ``max_det``, G the ground truth in input order; or empty (``[]``)
            where there are no detections or no ground truth.
        gt_instances: ``gt_instances[i][k]``: the G ground-truth instances of image i, category k.
        dt_instances: ``dt_instances[i][k]``: the detections of image i, category k, in any order.

    Returns:
        The matches, for :func:`COCOevalAccumulate`.
    """
    ranges = np.asarray(area_ranges, dtype=np.float64).reshape(-1, 2)  # (A, 2)
    thresholds = np.minimum(np.asarray(iou_thresholds, dtype=np.float64), 1 - 1e-10)  # (T,)
    num_images = len(ious)
    num_categories = len(ious[0]) if num_images else 0
    gt, gt_counts = _instance_table(gt_instances, num_images, num_categories)
    dt, dt_counts = _instance_table(dt_instances, num_images, num_categories)
    num_pairs = num_images * num_categories
    pair_category = np.tile(np.arange(num_categories), num_images)  # (P,)

    gt_ignored = _outside(gt[:, _AREA], ranges) | (gt[:, _IGNORE] != 0)  # (A, G)
    gt_category = np.repeat(pair_category, gt_counts)
    range_category = np.arange(len(ranges))[:, None] * num_categories + gt_category
    num_gt = np.bincount(range_category[~gt_ignored], minlength=len(ranges) * num_categories)

    # Rank the detections of each pair by descending score (stable) and keep the max_det best.
    dt_pair = np.repeat(np.arange(num_pairs), dt_counts)
    order = np.lexsort((-dt[:, _SCORE], dt_pair))
    rank = np.arange(len(order)) - _starts(dt_counts)[dt_pair[order]]
    kept = rank < max_det
    det, rank = dt[order[kept]], rank[kept]
    det_category = pair_category[dt_pair[order[kept]]]

    match = _match_greedily(
        [matrix for per_image in ious for matrix in per_image],
        gt_counts,
        np.minimum(dt_counts, max_det),
        gt_ignored,
        gt[:, _IS_CROWD] != 0,
        det[:, _ID] != 0,
        thresholds,
    )  # (A, T, N)
    # Index -1 (no match) picks the sentinels appended to the ground-truth columns: id 0, not
    # ignored.
    match_id = np.append(gt[:, _ID], 0.0)[match]
    range_index = np.arange(len(ranges))[:, None, None]
    match_ignored = np.pad(gt_ignored, ((0, 0), (0, 1)))[range_index, match]
    det_ignored = match_ignored | ((match_id == 0) & _outside(det[:, _AREA], ranges)[:, None, :])
    return ImageEvaluations(
        num_images=num_images,
        num_categories=num_categories,
        category=det_category,
        rank=rank,
        score=det[:, _SCORE].copy(),
        true_positive=(match_id != 0) & ~det_ignored,
        false_positive=(match_id == 0) & ~det_ignored,
        num_gt=num_gt.reshape(len(ranges), num_categories).T.copy(),
    )


def _first_reaching(rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Row-wise ``searchsorted(side="left")``: for (P, n) non-decreasing non-negative integer rows
    and (P, R) non-negative integer targets, the (P, R) index of the first entry of each row at
    least each target, or n. Shifting row p by ``p * span`` puts the rows in disjoint ranges, so one
    search over their concatenation serves."""
    num_rows, n = rows.shape
    span = int(max(rows.max(initial=0), targets.max(initial=0))) + 1
    shift = np.arange(num_rows)[:, None] * span
    position = np.searchsorted((rows + shift).ravel(), targets + shift, side="left")
    return position - np.arange(num_rows)[:, None] * n


def _precision_recall(
    true_positive: np.ndarray,
    false_positive: np.ndarray,
    num_gt: np.ndarray,
    scores: np.ndarray,
    recall_thresholds: np.ndarray,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interpolated precision-recall curve of ranked detections, for B area ranges and T thresholds.

    Args:
        true_positive, false_positive: (B, T, n) bool, of the detections in rank order.
        num_gt: (B,) int64, positive number of non-ignored ground-truth instances.
        scores: (n,) float64, detection scores in rank order.
        recall_thresholds: (R,) float64.

    Returns:
        ``(precision, recall, score)``: (B, T, R) precision at each recall threshold, (B, T) final
        recall, (B, T, R) score of the detection where each precision was read (0 past the curve).
    """
    num_ranges, num_thresholds, n = true_positive.shape
    shape = (num_ranges, num_thresholds, len(recall_thresholds))
    if n == 0:
        return np.zeros(shape), np.zeros(shape[:2]), np.zeros(shape)
    tp = np.cumsum(true_positive, axis=-1)  # (B, T, n) int64
    fp = np.cumsum(false_positive, axis=-1)
    counted = tp + fp
    precision = np.divide(tp, counted, out=np.zeros(tp.shape), where=counted > 0)
    precision = np.maximum.accumulate(precision[..., ::-1], axis=-1)[..., ::-1]
    # Recall tp/num_gt reaches a threshold where tp reaches the least count v with v/num_gt >= it
    # (v/num_gt computed as the recall is, and non-decreasing in v).
    needed = np.stack(
        [np.searchsorted(np.arange(g + 1) / g, recall_thresholds, side="left") for g in num_gt]
    )  # (B, R)
    first = _first_reaching(tp.reshape(-1, n), np.repeat(needed, num_thresholds, axis=0)).reshape(
        shape
    )
    reached = first < n
    first = np.minimum(first, n - 1)
    return (
        np.where(reached, np.take_along_axis(precision, first, axis=-1), 0.0),
        tp[..., -1] / num_gt[:, None],
        np.where(reached, scores[first], 0.0),
    )


def COCOevalAccumulate(params: Any, evaluations: ImageEvaluations) -> Dict[str, Any]:
    """Precision, recall and scores of pycocotools' ``COCOeval.accumulate``, from the matches of
    :func:`COCOevalEvaluateImages` called with the same ``params`` (a pycocotools ``Params``).

    Returns:
        A dict: ``params``; ``counts``, the list [T, R, K, A, M] (IoU thresholds, recall thresholds,
        categories, area ranges, maxDets); ``date``; ``precision`` and ``scores``, flat (T*R*K*A*M,)
        float64 arrays of the row-major (T, R, K, A, M) arrays; ``recall``, flat (T*K*A*M,). Entries
        with no non-ignored ground truth are -1.
    """
    recall_thresholds = np.asarray(params.recThrs, dtype=np.float64)
    max_dets = [int(m) for m in params.maxDets]
    counts = [
        len(params.iouThrs),
        len(recall_thresholds),
        len(params.catIds) if params.useCats == 1 else 1,
        len(params.areaRng),
        len(max_dets),
    ]
    num_thresholds, _, num_categories, num_ranges, _ = counts
    ev = evaluations
    if (
        ev.num_images != len(params.imgIds)
        or ev.true_positive.shape[:2] != (num_ranges, num_thresholds)
        or (ev.num_images > 0 and ev.num_categories != num_categories)
    ):
        raise ValueError("params differ from those the evaluations were computed with")

    precision = np.full(counts, -1.0)
    scores = np.full(counts, -1.0)
    recall = np.full(counts[:1] + counts[2:], -1.0)
    # All detections ranked by category, then descending score; equal scores keep image order.
    order = np.lexsort((-ev.score, ev.category))
    bounds = np.searchsorted(ev.category[order], np.arange(ev.num_categories + 1))
    for k in range(ev.num_categories):
        ranges = np.flatnonzero(ev.num_gt[k] > 0)
        if ranges.size == 0:
            continue
        category_dets = order[bounds[k] : bounds[k + 1]]
        for m, max_det in enumerate(max_dets):
            dets = category_dets[ev.rank[category_dets] < max_det]
            p, r, s = _precision_recall(
                np.take(ev.true_positive, dets, axis=2)[ranges],
                np.take(ev.false_positive, dets, axis=2)[ranges],
                ev.num_gt[k, ranges],
                ev.score[dets],
                recall_thresholds,
            )
            precision[:, :, k, ranges, m] = p.transpose(1, 2, 0)
            scores[:, :, k, ranges, m] = s.transpose(1, 2, 0)
            recall[:, k, ranges, m] = r.T
    return {
        "params": params,
        "counts": counts,
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "precision": precision.ravel(),
        "recall": recall.ravel(),
        "scores": scores.ravel(),
    }
