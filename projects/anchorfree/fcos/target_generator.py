"""
FCOS training targets: which location (point) of which FPN level regresses which ground-truth box.

The rules (FCOS, Tian et al. 2019, and its improved version, arXiv:2006.09214):

* Level ``l`` of stride ``s`` has one point per feature-map cell, at ``(j*s + s//2, i*s + s//2)``
  for cell ``(i, j)`` (row, column), in the input image's pixel coordinates: the cell's center,
  as in the original FCOS. With ``points_at_cell_centers=False`` the point is the cell's
  top-left corner ``(j*s, i*s)``, as in Detectron2's FCOS (its anchors' centers).
* A point is a *candidate* for a box when it lies strictly inside the box and, with center
  sampling (radius ``r > 0``), strictly within ``r*s`` of the box center along both axes
  (the "center region" of the improved FCOS, clipped to the box). ``r = 0`` disables center
  sampling: every point inside the box is a candidate.
* Level ``l`` only regresses boxes whose ``max(l, t, r, b)`` distance from the point lies in its
  size range, ``[lo_l, hi_l]`` (both ends inclusive, as in the original implementation).
  ``sizes_of_interest=(64, 128, 256, 512)`` gives ``[0,64], [64,128], [128,256], [256,512],
  [512,inf]``.
* A point that is a candidate for several boxes regresses the one of smallest area; equal areas
  go to the box listed first. The area is ``(x1 - x0 + a) * (y1 - y0 + a)`` with
  ``a = area_offset``: 0 by default (``w * h``, as AdelaiDet); tianzhi0549/FCOS ranks by
  maskrcnn-benchmark's ``BoxList.area()``, ``(w + 1) * (h + 1)`` (``a = 1``), which orders
  some pairs of boxes differently (a 1x10 box before a 3x3.5 one by ``w * h``, after it by
  ``(w + 1) * (h + 1)``).
* Regression targets are the ``(l, t, r, b)`` distances from the point to the box sides, divided
  by the level's stride when ``normalize_by_stride`` (the improved FCOS).

Crowd regions. Detectron2's ``DatasetMapper`` drops ``iscrowd`` annotations before they reach a
model, so by default crowd regions are simply background, as for Detectron2's own FCOS and
RetinaNet. A custom mapper may keep crowd boxes in ``gt_boxes`` and mark them with a boolean
``gt_is_crowd`` field of the ``Instances``: a crowd box then never becomes a regression target,
and points that would be candidates for it (same rules) but for no regular box get the label
``-1``, which the classification loss ignores.

Implementation: no loop over points or boxes. For every box and level, the points that can
satisfy the rules lie in a small window of the level's grid (at most ``ceil(2r)+2`` cells per axis
with center sampling, ``ceil(hi/s)+2`` with a finite size range), so candidates are enumerated as
one ``(boxes, window_h, window_w)`` tensor per level for all images of the batch at once, instead
of testing every (point, box) pair. Ambiguities are resolved with two ``scatter_reduce`` passes.
"""

import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor

from anchorfree.modeling.assignment import smallest_then_first

from detectron2.structures import Instances

__all__ = ["FCOSTargets", "FCOSTargetGenerator", "compute_points", "level_size_ranges"]

INF = float("inf")


class FCOSTargets(NamedTuple):
    """Targets for the ``R`` points of all levels (level-major, then row-major within a level,
    the order of ``DenseDetector._transpose_dense_predictions``) of ``N`` images."""

    # (N, R) int64: class in [0, num_classes) for positives, num_classes for background,
    # -1 for points to ignore (crowd regions, see the module docstring).
    labels: Tensor
    # (N, R, 4) float: (l, t, r, b) to the matched box, divided by the stride when the
    # generator normalizes; zeros for non-positive points.
    box_targets: Tensor
    # (N, R) int64: index of the matched box in that image's ``Instances``, -1 if none.
    matched_idxs: Tensor


def level_size_ranges(sizes_of_interest: Sequence[float]) -> List[Tuple[float, float]]:
    """``(64, 128)`` -> ``[(0, 64), (64, 128), (128, inf)]``: one range per level."""
    bounds = [0.0] + [float(x) for x in sizes_of_interest] + [INF]
    if any(b >= a for a, b in zip(bounds[1:], bounds[:-1])):
        raise ValueError(f"sizes_of_interest must be increasing, got {list(sizes_of_interest)}")
    return list(zip(bounds[:-1], bounds[1:]))


def point_offset(stride: int, at_cell_centers: bool) -> int:
    """The coordinate of the first point of a level of this stride (see the module doc)."""
    return stride // 2 if at_cell_centers else 0


def compute_points(
    feature_shapes: Sequence[Tuple[int, int]],
    strides: Sequence[int],
    device: Optional[torch.device] = None,
    *,
    at_cell_centers: bool = True,
) -> List[Tensor]:
    """Per level, the (H*W, 2) float tensor of point coordinates ``(x, y)``, row-major, at the
    cells' centers or (``at_cell_centers=False``) their top-left corners."""
    points = []
    for (height, width), stride in zip(feature_shapes, strides):
        offset = point_offset(stride, at_cell_centers)
        xs = torch.arange(width, dtype=torch.float32, device=device) * stride + offset
        ys = torch.arange(height, dtype=torch.float32, device=device) * stride + offset
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1))
    return points


class FCOSTargetGenerator:
    """
    Assigns FCOS targets (see the module docstring for the rules). Callable; holds no tensors.

    Example::

        generator = FCOSTargetGenerator(num_classes=80)
        targets = generator([(100, 167), (50, 84), (25, 42), (13, 21), (7, 11)],
                            [8, 16, 32, 64, 128], gt_instances)
    """

    def __init__(
        self,
        *,
        num_classes: int,
        sizes_of_interest: Sequence[float] = (64, 128, 256, 512),
        center_sampling_radius: float = 1.5,
        normalize_by_stride: bool = True,
        area_offset: float = 0.0,
        points_at_cell_centers: bool = True,
    ):
        """
        Args:
            num_classes: number of foreground classes; the background label.
            sizes_of_interest: increasing boundaries between the size ranges of consecutive
                levels (one fewer than the number of levels); see :func:`level_size_ranges`.
            center_sampling_radius: in units of the level's stride; 0 disables center sampling.
            normalize_by_stride: divide the regression targets by the level's stride.
            area_offset: added to a box's width and height for the area that decides between
                the boxes of an ambiguous point (1 in tianzhi0549/FCOS; see the module
                docstring).
            points_at_cell_centers: points at the cells' centers (the original FCOS) or, False,
                at their top-left corners (Detectron2's FCOS); the model decodes at the same.
        """
        if center_sampling_radius < 0:
            raise ValueError(f"center_sampling_radius must be >= 0, got {center_sampling_radius}")
        self.num_classes = int(num_classes)
        self.size_ranges = level_size_ranges(sizes_of_interest)
        self.center_sampling_radius = float(center_sampling_radius)
        self.normalize_by_stride = bool(normalize_by_stride)
        self.area_offset = float(area_offset)
        self.points_at_cell_centers = bool(points_at_cell_centers)

    def _window(self, stride: int, size_hi: float, grid_len: int) -> int:
        """Static bound on the number of candidate cells per axis, for one level."""
        bound = grid_len
        if self.center_sampling_radius > 0:
            bound = min(bound, math.ceil(2 * self.center_sampling_radius) + 2)
        if size_hi != INF:
            # l <= hi and r <= hi: the point lies in [x1 - hi, x0 + hi], at most hi wide
            # once intersected with the box.
            bound = min(bound, math.ceil(size_hi / stride) + 2)
        return max(bound, 1)

    @torch.no_grad()
    def __call__(
        self,
        feature_shapes: Sequence[Tuple[int, int]],
        strides: Sequence[int],
        gt_instances: List[Instances],
    ) -> FCOSTargets:
        """
        Args:
            feature_shapes: (H, W) of each level's feature map, finest first.
            strides: stride of each level.
            gt_instances: per image, ``Instances`` with ``gt_boxes`` (XYXY, input-image pixels),
                ``gt_classes`` and optionally a boolean ``gt_is_crowd``.
        """
        feature_shapes = [(int(h), int(w)) for h, w in feature_shapes]
        if len(feature_shapes) != len(strides) or len(strides) != len(self.size_ranges):
            raise ValueError(
                f"Got {len(feature_shapes)} feature maps and {len(strides)} strides for "
                f"{len(self.size_ranges)} size ranges (sizes_of_interest): they must agree."
            )
        num_images = len(gt_instances)
        device = gt_instances[0].gt_boxes.tensor.device
        level_sizes = [h * w for h, w in feature_shapes]
        num_points = sum(level_sizes)

        # All boxes of the batch as one list, with their image index.
        boxes = torch.cat([x.gt_boxes.tensor for x in gt_instances]).float()
        classes = torch.cat([x.gt_classes for x in gt_instances]).long()
        counts = torch.tensor([len(x) for x in gt_instances], device=device)
        image_of_box = torch.repeat_interleave(torch.arange(num_images, device=device), counts)
        first_box_of_image = torch.cumsum(counts, 0) - counts
        crowd = [
            (
                x.gt_is_crowd.bool()
                if x.has("gt_is_crowd")
                else torch.zeros(len(x), dtype=torch.bool, device=device)
            )
            for x in gt_instances
        ]
        is_crowd = torch.cat(crowd)
        num_boxes = boxes.shape[0]
        if num_boxes == 0:
            return FCOSTargets(
                labels=torch.full(
                    (num_images, num_points), self.num_classes, dtype=torch.long, device=device
                ),
                box_targets=torch.zeros((num_images, num_points, 4), device=device),
                matched_idxs=torch.full(
                    (num_images, num_points), -1, dtype=torch.long, device=device
                ),
            )

        x0, y0, x1, y1 = boxes.unbind(dim=1)
        # Ambiguity key: area; crowd boxes lose to any regular box.
        area = (x1 - x0 + self.area_offset) * (y1 - y0 + self.area_offset)
        area = torch.where(is_crowd, torch.full_like(x0, INF), area)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2

        pair_point, pair_box, pair_ltrb = [], [], []
        level_start = 0
        radius = self.center_sampling_radius
        for (height, width), stride, (size_lo, size_hi), level_size in zip(
            feature_shapes, strides, self.size_ranges, level_sizes
        ):
            offset = point_offset(stride, self.points_at_cell_centers)
            x_idx, x_ok, left, right = self._axis_candidates(
                x0, x1, cx, stride, offset, size_hi, width, radius
            )
            y_idx, y_ok, top, bottom = self._axis_candidates(
                y0, y1, cy, stride, offset, size_hi, height, radius
            )
            # (B, Ky, Kx): candidate cells of every box on this level.
            max_dist = torch.maximum(
                torch.maximum(left, right)[:, None, :], torch.maximum(top, bottom)[:, :, None]
            )
            ok = y_ok[:, :, None] & x_ok[:, None, :] & (max_dist >= size_lo) & (max_dist <= size_hi)
            box_id, ky, kx = ok.nonzero(as_tuple=True)
            ix, iy = x_idx[box_id, kx], y_idx[box_id, ky]
            pair_point.append(image_of_box[box_id] * num_points + level_start + iy * width + ix)
            pair_box.append(box_id)
            ltrb = torch.stack(
                [left[box_id, kx], top[box_id, ky], right[box_id, kx], bottom[box_id, ky]], dim=1
            )
            pair_ltrb.append(ltrb / stride if self.normalize_by_stride else ltrb)
            level_start += level_size

        pair_point = torch.cat(pair_point)
        pair_box = torch.cat(pair_box)
        pair_ltrb = torch.cat(pair_ltrb)
        pair_area = area[pair_box]

        # Smallest area per point, then the first box among those of that area.
        total = num_images * num_points
        winner, best_box = smallest_then_first(pair_point, pair_area, pair_box, total, num_boxes)

        has_match = best_box < num_boxes
        matched = best_box.clamp(max=num_boxes - 1)
        crowd_match = has_match & is_crowd[matched]
        positive = has_match & ~crowd_match
        labels = torch.where(positive, classes[matched], torch.full_like(matched, self.num_classes))
        labels[crowd_match] = -1
        box_targets = torch.zeros((total, 4), device=device)
        winner &= ~is_crowd[pair_box]
        box_targets[pair_point[winner]] = pair_ltrb[winner]
        matched_idxs = torch.where(
            positive,
            matched - first_box_of_image[image_of_box[matched]],
            torch.full_like(matched, -1),
        )
        return FCOSTargets(
            labels=labels.view(num_images, num_points),
            box_targets=box_targets.view(num_images, num_points, 4),
            matched_idxs=matched_idxs.view(num_images, num_points),
        )

    def _axis_candidates(
        self,
        lo: Tensor,
        hi: Tensor,
        center: Tensor,
        stride: int,
        offset: int,
        size_hi: float,
        grid_len: int,
        radius: float,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """
        Along one axis, for every box: the candidate cell indices ``(B, K)``, whether each is a
        candidate on this axis (in the grid, strictly inside the box, in the center region, and
        within ``size_hi`` of both sides), and the distances to the low and high box sides.
        """
        window = self._window(stride, size_hi, grid_len)
        low = lo
        if radius > 0:
            low = torch.maximum(low, center - radius * stride)
        if size_hi != INF:
            low = torch.maximum(low, hi - size_hi)
        start = torch.floor((low - offset) / stride).clamp(min=0).long()
        idx = start[:, None] + torch.arange(window, device=lo.device)
        coord = (idx * stride + offset).float()
        dist_lo = coord - lo[:, None]
        dist_hi = hi[:, None] - coord
        ok = (idx < grid_len) & (dist_lo > 0) & (dist_hi > 0)
        if radius > 0:
            ok &= (coord - center[:, None]).abs() < radius * stride
        return idx, ok, dist_lo, dist_hi
