"""
CenterNet training targets ("Objects as Points", Zhou et al. 2019, Sec. 3).

Coordinates. Ground-truth boxes come in input-image pixels (XYXY, after the data mapper's
resizing; the image is then padded on the right and bottom). The output grid has stride ``s``
(4): cell ``(x, y)`` covers pixels ``[s*x, s*x + s) x [s*y, s*y + s)``, and a point ``p`` in
pixels is at ``p / s`` in grid units. For each object:

* its box is clipped to its image and divided by ``s``; the size target is
  ``(w, h) = (x1 - x0, y1 - y0)`` in grid units;
* its center ``c = ((x0 + x1) / 2, (y0 + y1) / 2)`` (grid units) lies in the cell
  ``floor(c)``, and the offset target is ``c - floor(c)``, in ``[0, 1)``;
* a Gaussian of radius ``r = floor(gaussian_radius(h, w, min_overlap, formula))`` and
  ``sigma = (2r + 1) / 6`` is drawn around that cell on the heatmap of its class (elementwise
  max with the others); the center cell is exactly 1, the positive of the focal loss.

Skipped objects: boxes with no area left after clipping, and crowd boxes (a boolean
``gt_is_crowd`` field of the ``Instances``, which a custom mapper may keep; Detectron2's
``DatasetMapper`` drops crowd annotations) are neither drawn nor regressed.

Objects whose centers fall in the same cell (of any class: the size and offset maps are shared
by all classes) are all drawn on the heatmaps, but by default only one regresses the size and
offset at that cell: the smallest box (area ``w*h``), the first listed among equal areas. A
larger box would otherwise pull the shared prediction away from the smaller one's, and
averaging the two would fit neither. ``same_cell="all"`` is the original's rule: every object
keeps its own regression slot (its ``ind``/``reg_mask`` entry), all gathered at the one cell.

Options that reproduce the original's training targets (``src/lib/datasets/sample/ctdet.py``),
off by default: ``radius_from_ceiled_size`` (the radius of the size rounded up to whole cells),
``clip_to_last_cell`` (boxes clipped to ``[0, W/s - 1] x [0, H/s - 1]`` cells, the original's
``np.clip(bbox, 0, output_w - 1)``, instead of to the image, ``[0, W/s]``) and
``same_cell="all"``.

Implementation: no loop over objects or images. All objects of the batch are drawn with one
batched :func:`~anchorfree.modeling.gaussian_targets.draw_gaussians` call on the
``[N * C, H, W]`` view of the heatmaps, and the same-cell rule is two ``scatter_reduce`` passes.
"""

from typing import List, NamedTuple, Tuple

import torch
from torch import Tensor

from anchorfree.modeling.assignment import smallest_then_first
from anchorfree.modeling.batch_objects import gather_objects
from anchorfree.modeling.gaussian_targets import HeatmapTargetGenerator, draw_gaussians

from detectron2.structures import Instances

__all__ = ["SAME_CELL_RULES", "CenterNetTargetGenerator", "CenterNetTargets"]

SAME_CELL_RULES = ("smallest", "all")


class CenterNetTargets(NamedTuple):
    """Targets of a batch of ``N`` images on an ``H x W`` grid, with the ``M`` regressed objects
    as flat lists (no padding to a maximum number of objects)."""

    heatmaps: Tensor  # [N, C, H, W] float in [0, 1], exactly 1 at object centers
    image_index: Tensor  # [M] int64: image of each regressed object
    cells: Tensor  # [M] int64: flat cell index y * W + x of its center
    wh: Tensor  # [M, 2] float: (w, h) in grid cells
    offset: Tensor  # [M, 2] float: center - floor(center), (x, y), in [0, 1)
    num_objects: int  # objects drawn on the heatmaps (M <= num_objects: same-cell rule)


class CenterNetTargetGenerator(HeatmapTargetGenerator):
    """
    Computes :class:`CenterNetTargets` (rules in the module docstring). Callable; holds no
    tensors.

    Example::

        generator = CenterNetTargetGenerator(num_classes=80)
        targets = generator((128, 128), 4, gt_instances)  # 512x512 inputs
    """

    def __init__(
        self,
        *,
        num_classes: int,
        min_overlap: float = 0.7,
        radius_formula: str = "published",
        radius_from_ceiled_size: bool = False,
        clip_to_last_cell: bool = False,
        same_cell: str = "smallest",
    ):
        """
        Args:
            num_classes: number of heatmap channels.
            min_overlap, radius_formula: of :func:`~anchorfree.modeling.gaussian_targets.
                gaussian_radius`: ``"published"`` with 0.7 (the CenterNet paper's code) or
                ``"corrected"`` with 0.3 (CornerNet, mmdetection).
            radius_from_ceiled_size: of :class:`~anchorfree.modeling.gaussian_targets.
                HeatmapTargetGenerator`: the radius of the size rounded up (the original).
            clip_to_last_cell: clip boxes to the last cell's top-left corner,
                ``[0, W/s - 1]`` (the original), not to the image's edge, ``[0, W/s]``.
            same_cell: which objects sharing a center cell regress there: ``"smallest"`` (one,
                see the module docstring) or ``"all"`` (the original).
        """
        super().__init__(
            num_classes=num_classes,
            min_overlap=min_overlap,
            radius_formula=radius_formula,
            radius_from_ceiled_size=radius_from_ceiled_size,
        )
        if same_cell not in SAME_CELL_RULES:
            raise ValueError(f"same_cell must be one of {SAME_CELL_RULES}, got {same_cell!r}")
        self.clip_to_last_cell = bool(clip_to_last_cell)
        self.same_cell = same_cell

    @torch.no_grad()
    def __call__(
        self, output_size: Tuple[int, int], stride: int, gt_instances: List[Instances]
    ) -> CenterNetTargets:
        """
        Args:
            output_size: ``(H, W)`` of the output grid (the padded input divided by ``stride``).
            stride: output stride in input pixels.
            gt_instances: per image, ``Instances`` with ``gt_boxes`` (XYXY, input pixels),
                ``gt_classes`` and optionally a boolean ``gt_is_crowd``; their ``image_size``
                (the unpadded input) is where boxes are clipped.
        """
        height, width = int(output_size[0]), int(output_size[1])
        num_images = len(gt_instances)
        device = gt_instances[0].gt_boxes.tensor.device
        objects = gather_objects(gt_instances)
        image_of_box, classes = objects.image_index, objects.classes
        limits = torch.tensor(
            [[w, h, w, h] for h, w in (x.image_size for x in gt_instances)],
            dtype=torch.float32,
            device=device,
        )[image_of_box]
        limits = limits / stride - (1 if self.clip_to_last_cell else 0)
        boxes = torch.minimum((objects.boxes / stride).clamp(min=0), limits)
        x0, y0, x1, y1 = boxes.unbind(dim=1)
        w, h = x1 - x0, y1 - y0
        keep = (w > 0) & (h > 0)
        image_of_box, classes, w, h = image_of_box[keep], classes[keep], w[keep], h[keep]
        center = torch.stack([x0 + x1, y0 + y1], dim=1)[keep] / 2
        cell = center.floor()
        cell_xy = cell.long()
        cell_x, cell_y = cell_xy.unbind(dim=1)

        # One draw for the whole batch: image i, class c is channel i * C + c of [N * C, H, W].
        heatmaps = torch.zeros(num_images * self.num_classes, height, width, device=device)
        radii = self.radii(h, w)
        draw_gaussians(heatmaps, cell_xy, radii, image_of_box * self.num_classes + classes)

        cells = cell_y * width + cell_x
        num_objects = int(w.numel())
        if self.same_cell == "all":
            winner = torch.ones(num_objects, dtype=torch.bool, device=device)
        else:
            # The smallest area per cell, then the first such object.
            key = image_of_box * (height * width) + cells
            order = torch.arange(num_objects, device=device)
            winner, _ = smallest_then_first(
                key, w * h, order, num_images * height * width, num_objects
            )
        return CenterNetTargets(
            heatmaps=heatmaps.view(num_images, self.num_classes, height, width),
            image_index=image_of_box[winner],
            cells=cells[winner],
            wh=torch.stack([w, h], dim=1)[winner],
            offset=(center - cell)[winner],
            num_objects=num_objects,
        )
