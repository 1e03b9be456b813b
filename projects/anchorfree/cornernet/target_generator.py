"""
CornerNet training targets: corner heatmaps, sub-cell offsets and embedding indices.

The rules (CornerNet, Law & Deng, ECCV 2018, Sec. 3.2-3.3):

* Coordinates: a box ``(x0, y0, x1, y1)`` in input-image pixels has its top-left corner at
  ``(x0, y0) / stride`` and its bottom-right corner at ``(x1, y1) / stride`` in output-grid
  units. A corner's cell is the floor of that point, clamped into the grid (a bottom-right
  corner on the right or bottom image border of an input that is a multiple of the stride lies
  exactly one cell outside); its offset is the point minus its cell, in ``[0, 1]`` (1 only for
  such a clamped corner).
* Heatmaps: one Gaussian per corner on its cell and class channel (``draw_gaussians``: peak 1,
  ``sigma = (2r + 1) / 6``, elementwise max where Gaussians overlap), with the radius ``r``
  from ``gaussian_radius`` of the box size in output-grid units, at ``min_overlap`` (0.3) with
  the corrected formula, rounded down. The size is taken as it is, not rounded: the original
  code rounds it up first (``radius_from_ceiled_size``), which gives some boxes a radius one
  cell larger.
* Embeddings: the top-left and bottom-right cells of every object are listed in the same slot,
  so that the loss can gather the two embeddings of an object (``mask`` marks real slots).
* Crowd boxes (a boolean ``gt_is_crowd`` field, kept by custom mappers only; Detectron2's
  ``DatasetMapper`` drops them) are left out: no corners, no embeddings.

Implementation: no loop over objects. The Gaussians of all images are drawn in one call on a
``[N*C, H, W]`` view of the batch heatmap, with the channel ``image * C + class``.
"""

from typing import List, NamedTuple, Tuple

import torch
from torch import Tensor

from anchorfree.modeling.batch_objects import gather_objects
from anchorfree.modeling.gaussian_targets import HeatmapTargetGenerator, draw_gaussians

from detectron2.structures import Instances

__all__ = ["CornerNetTargetGenerator", "CornerNetTargets"]


class CornerNetTargets(NamedTuple):
    """Targets of ``N`` images on an ``H x W`` output grid; ``M`` is the largest number of
    (non-crowd) objects in an image of the batch (0 when the batch has none)."""

    tl_heatmap: Tensor  # [N, C, H, W] float: top-left corner Gaussians
    br_heatmap: Tensor  # [N, C, H, W] float: bottom-right corner Gaussians
    tl_cells: Tensor  # [N, M, 2] int64 (x, y) cell of each object's top-left corner
    br_cells: Tensor  # [N, M, 2] int64 (x, y) cell of each object's bottom-right corner
    tl_offsets: Tensor  # [N, M, 2] float (x, y) corner minus its cell
    br_offsets: Tensor  # [N, M, 2] float
    mask: Tensor  # [N, M] bool: slot holds an object (slots past an image's count are padding)
    num_objects: int  # objects in the batch (this worker)


def _corner_cells(points: Tensor, height: int, width: int) -> Tuple[Tensor, Tensor]:
    """``[B, 2]`` (x, y) points in grid units -> their clamped cells (int64) and offsets."""
    upper = torch.tensor([width - 1, height - 1], device=points.device)
    cells = torch.minimum(points.floor().long().clamp(min=0), upper)
    return cells, points - cells


class CornerNetTargetGenerator(HeatmapTargetGenerator):
    """
    Builds :class:`CornerNetTargets` (see the module docstring for the rules). Callable; holds no
    tensors.

    Example::

        generator = CornerNetTargetGenerator(num_classes=80)
        targets = generator((128, 128), 4, gt_instances)
    """

    def __init__(
        self,
        *,
        num_classes: int,
        min_overlap: float = 0.3,
        radius_formula: str = "corrected",
        radius_from_ceiled_size: bool = False,
    ):
        """
        Args:
            num_classes: number of heatmap channels.
            min_overlap: IoU that a box from corners displaced by the radius keeps with the
                ground truth (0.3 in CornerNet).
            radius_formula: "corrected" (CornerNet) or "published"; see ``gaussian_radius``.
            radius_from_ceiled_size: the radius of the box size in output-grid cells rounded
                up, as the original code (``sample/coco.py``); see
                :class:`~anchorfree.modeling.gaussian_targets.HeatmapTargetGenerator`.
        """
        super().__init__(
            num_classes=num_classes,
            min_overlap=min_overlap,
            radius_formula=radius_formula,
            radius_from_ceiled_size=radius_from_ceiled_size,
        )

    @torch.no_grad()
    def __call__(
        self, output_size: Tuple[int, int], stride: int, gt_instances: List[Instances]
    ) -> CornerNetTargets:
        """
        Args:
            output_size: ``(H, W)`` of the output grid (the padded input divided by ``stride``).
            stride: input pixels per output cell.
            gt_instances: per image, ``Instances`` with ``gt_boxes`` (XYXY, input pixels),
                ``gt_classes`` and optionally a boolean ``gt_is_crowd``.
        """
        height, width = int(output_size[0]), int(output_size[1])
        num_images = len(gt_instances)
        num_classes = self.num_classes
        device = gt_instances[0].gt_boxes.tensor.device

        objects = gather_objects(gt_instances)
        boxes, classes, image_of_object = objects.boxes, objects.classes, objects.image_index
        counts = objects.counts
        num_objects = int(counts.sum())
        max_objects = int(counts.max()) if num_images else 0
        slot = (
            torch.arange(num_objects, device=device)
            - (torch.cumsum(counts, 0) - counts)[image_of_object]
        )

        grid_boxes = boxes / stride
        tl_cells, tl_offsets = _corner_cells(grid_boxes[:, :2], height, width)
        br_cells, br_offsets = _corner_cells(grid_boxes[:, 2:], height, width)
        radii = self.radii(grid_boxes[:, 3] - grid_boxes[:, 1], grid_boxes[:, 2] - grid_boxes[:, 0])
        channels = image_of_object * num_classes + classes
        heatmaps = []
        for cells in (tl_cells, br_cells):
            heatmap = torch.zeros((num_images * num_classes, height, width), device=device)
            draw_gaussians(heatmap, cells, radii, channels)
            heatmaps.append(heatmap.view(num_images, num_classes, height, width))

        def padded(values: Tensor) -> Tensor:
            out = values.new_zeros((num_images, max_objects) + values.shape[1:])
            out[image_of_object, slot] = values
            return out

        mask = torch.zeros((num_images, max_objects), dtype=torch.bool, device=device)
        mask[image_of_object, slot] = True
        return CornerNetTargets(
            tl_heatmap=heatmaps[0],
            br_heatmap=heatmaps[1],
            tl_cells=padded(tl_cells),
            br_cells=padded(br_cells),
            tl_offsets=padded(tl_offsets),
            br_offsets=padded(br_offsets),
            mask=mask,
            num_objects=num_objects,
        )
