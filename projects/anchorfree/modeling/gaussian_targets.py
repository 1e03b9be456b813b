"""
Gaussian heatmap targets shared by CenterNet (object centers) and CornerNet (box corners).

Coordinates are cells of the output grid (the input divided by the output stride): a heatmap
is ``[C, H, W]`` and a point ``(x, y)`` is the integer cell ``heatmap[:, y, x]``.
"""

from typing import Tuple

import torch
from torch import Tensor

__all__ = [
    "RADIUS_FORMULAS",
    "HeatmapTargetGenerator",
    "check_radius_settings",
    "draw_gaussians",
    "gaussian_radius",
    "heatmap_radii",
]

RADIUS_FORMULAS: Tuple[str, ...] = ("corrected", "published")


def check_radius_settings(min_overlap: float, formula: str) -> None:
    """Raise ``ValueError`` unless ``formula`` is known and ``0 < min_overlap < 1``: checked
    when a target generator is built, not at the first batch."""
    if formula not in RADIUS_FORMULAS:
        raise ValueError(f"radius_formula must be one of {RADIUS_FORMULAS}, got {formula!r}")
    if not 0.0 < min_overlap < 1.0:
        raise ValueError(f"min_overlap must be in (0, 1), got {min_overlap}")


def gaussian_radius(
    heights: Tensor, widths: Tensor, min_overlap: float, formula: str = "corrected"
) -> Tensor:
    """
    The largest distance ``r`` by which both corners of a box may move so that the moved box
    still overlaps the original with IoU >= ``min_overlap`` (CornerNet, Sec. 3.2). Three
    worst cases bound it; the radius is the smallest of the three:

    1. both corners move by ``r`` in the same direction (the box translates by ``(r, r)``):
       ``(h - r)(w - r) / (2hw - (h - r)(w - r)) >= t``;
    2. both corners move inwards: ``(h - 2r)(w - 2r) / (hw) >= t``;
    3. both corners move outwards: ``hw / ((h + 2r)(w + 2r)) >= t``.

    Args:
        heights, widths: box sizes, any shape (the same), in output-grid cells.
        min_overlap: the IoU ``t`` a box from displaced corners must keep with the original.
        formula: ``"corrected"`` solves the three quadratics above exactly (used with
            ``min_overlap=0.3`` by CornerNet and mmdetection). ``"published"`` is the formula of
            the original CornerNet/CenterNet code, which takes the larger root of cases 1 and 2
            and divides every case by 2 instead of ``2a``; its radii are larger, which the
            original CenterNet compensates with ``min_overlap=0.7``. Use it to match
            published CenterNet models.

    Returns:
        float radii with the shape of ``heights`` (not rounded; see :func:`heatmap_radii`).
    """
    check_radius_settings(min_overlap, formula)
    h = heights.float()
    w = widths.float()
    t = float(min_overlap)
    # Each case, written as a r^2 - b r + c >= 0 (cases 1, 2: r up to the smaller root) or
    # <= 0 (case 3, c < 0: r up to the positive root), has roots (b -+ sqrt(b^2 - 4ac)) / 2a.
    a1, b1, c1 = 1.0, h + w, h * w * (1 - t) / (1 + t)
    a2, b2, c2 = 4.0, 2 * (h + w), (1 - t) * h * w
    a3, b3, c3 = 4 * t, -2 * t * (h + w), (t - 1) * h * w
    sq1 = torch.sqrt(b1 * b1 - 4 * a1 * c1)
    sq2 = torch.sqrt(b2 * b2 - 4 * a2 * c2)
    sq3 = torch.sqrt(b3 * b3 - 4 * a3 * c3)
    if formula == "corrected":
        r1 = (b1 - sq1) / (2 * a1)
        r2 = (b2 - sq2) / (2 * a2)
        r3 = (b3 + sq3) / (2 * a3)
    else:
        r1 = (b1 + sq1) / 2
        r2 = (b2 + sq2) / 2
        r3 = (b3 + sq3) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def heatmap_radii(
    heights: Tensor, widths: Tensor, min_overlap: float, formula: str = "corrected"
) -> Tensor:
    """:func:`gaussian_radius` rounded down to whole cells and at least 0 (int64)."""
    return gaussian_radius(heights, widths, min_overlap, formula).floor().clamp(min=0).long()


class HeatmapTargetGenerator:
    """
    What the heatmap detectors' target generators (CenterNet, CornerNet) share: the number of
    heatmap channels and the Gaussian radius rule, :func:`heatmap_radii` with one
    ``min_overlap`` and ``radius_formula`` (checked once, here), of the box size as it is or
    rounded up to whole cells first (``radius_from_ceil``).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        min_overlap: float,
        radius_formula: str,
        radius_from_ceil: bool = False,
    ):
        """
        Args:
            num_classes: number of heatmap channels.
            min_overlap, radius_formula: of :func:`gaussian_radius`.
            radius_from_ceil: the radius of the box size rounded up to whole cells, as the
                original CenterNet and CornerNet compute it
                (``gaussian_radius((math.ceil(h), math.ceil(w)))``); False: of the size as it
                is (a box is as large as it is; rounding up only widens the Gaussians of small
                boxes).
        """
        check_radius_settings(min_overlap, radius_formula)
        self.num_classes = int(num_classes)
        self.min_overlap = float(min_overlap)
        self.radius_formula = radius_formula
        self.radius_from_ceil = bool(radius_from_ceil)

    def radii(self, heights: Tensor, widths: Tensor) -> Tensor:
        """Radii in whole cells of boxes ``heights x widths`` (in output-grid cells)."""
        if self.radius_from_ceil:
            heights, widths = heights.ceil(), widths.ceil()
        return heatmap_radii(heights, widths, self.min_overlap, self.radius_formula)


def _window_buckets(radii: Tensor) -> Tensor:
    """Group radii whose windows are within 2x in side: bucket b holds radii in
    [2^b - 1, 2^(b+1) - 2]."""
    return torch.floor(torch.log2(radii.float() + 1)).long()


@torch.no_grad()
def draw_gaussians(heatmap: Tensor, centers: Tensor, radii: Tensor, classes: Tensor) -> None:
    """
    Draw one unnormalized Gaussian per object into ``heatmap``, in place, keeping the
    elementwise maximum where Gaussians overlap. The Gaussian of an object with radius ``r``
    covers the square window ``|dx|, |dy| <= r`` around its center cell with
    ``exp(-dx^2 / (2 sigma^2)) * exp(-dy^2 / (2 sigma^2))``, ``sigma = (2r + 1) / 6`` (a sixth of
    the diameter), so it is exactly 1 on the center cell. Parts outside the map are cut off.

    Objects are drawn together, with no Python loop over objects: those with windows of
    similar size (within 2x) are padded to one window, each window is the outer product of its
    two 1-d Gaussians (zero where the window is cut off), and all windows go into the map with a
    single ``scatter_reduce(amax)``. The cost grows with the total window area.

    Args:
        heatmap: ``[C, H, W]`` float, contiguous, values >= 0 (cut-off cells are scattered as
            zeros, which cannot raise a non-negative map).
        centers: ``[N, 2]`` int64 ``(x, y)`` cells; may lie outside the map (then only the
            part of the window inside is drawn).
        radii: ``[N]`` int64, >= 0 (see :func:`heatmap_radii`).
        classes: ``[N]`` int64 in ``[0, C)``.
    """
    if radii.numel() == 0:
        return
    if not heatmap.is_contiguous():
        raise ValueError("draw_gaussians draws in place and needs a contiguous heatmap")
    _, height, width = heatmap.shape
    buckets = _window_buckets(radii)
    indices, values = [], []
    for bucket in buckets.unique().tolist():
        selected = buckets == bucket
        max_radius = (1 << (bucket + 1)) - 2  # the largest radius bucket b can hold
        offsets = torch.arange(-max_radius, max_radius + 1, device=heatmap.device)
        bucket_radii = radii[selected].unsqueeze(1)
        sigma = (2 * bucket_radii + 1).to(heatmap.dtype) / 6
        profile = torch.exp(-(offsets * offsets).to(heatmap.dtype) / (2 * sigma * sigma))
        in_window = offsets.abs() <= bucket_radii
        xs = centers[selected, 0].unsqueeze(1) + offsets
        ys = centers[selected, 1].unsqueeze(1) + offsets
        profile_x = profile * (in_window & (xs >= 0) & (xs < width))
        profile_y = profile * (in_window & (ys >= 0) & (ys < height))
        rows = (classes[selected].unsqueeze(1) * height + ys.clamp(0, height - 1)) * width
        indices.append((rows.unsqueeze(2) + xs.clamp(0, width - 1).unsqueeze(1)).flatten())
        values.append((profile_y.unsqueeze(2) * profile_x.unsqueeze(1)).flatten())
    heatmap.view(-1).scatter_reduce_(0, torch.cat(indices), torch.cat(values), reduce="amax")
