"""The category shapes as polygons (one builder per class, in ``SHAPE_CLASSES`` order), their
stretch and rotation, and rasterizing them anti-aliased into a box."""

import math
from typing import Callable, List, Tuple

import cv2
import numpy as np

from .params import NUM_CLASSES, ShapesParams

# Rasterisation: polygon vertices get this many fractional bits (cv2.fillPoly "shift"); a
# covered pixel has coverage MASK_ON.
SUBPIXEL_BITS = 4
MASK_ON = 255
CIRCLE_VERTICES = 64

# ---------------------------------------------------------------------------------------------
# Shapes. A shape is a list of (polygon, value) pairs in canonical coordinates (about [-1, 1]),
# filled in order with `value` (MASK_ON, or 0 to cut a hole); the first polygon is the outline.
# ---------------------------------------------------------------------------------------------

Polygons = List[Tuple[np.ndarray, int]]


def _regular_polygon(num_vertices: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + np.arange(num_vertices) * (2.0 * math.pi / num_vertices)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def uniform(rng: np.random.Generator, bounds: Tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _circle(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    return [(_regular_polygon(CIRCLE_VERTICES), MASK_ON)]


def _square(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    return [(_regular_polygon(4, phase=math.pi / 4), MASK_ON)]


def _triangle(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    return [(_regular_polygon(3, phase=-math.pi / 2), MASK_ON)]


def _star(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    num_points = 5
    outer = _regular_polygon(num_points, phase=-math.pi / 2)
    inner = _regular_polygon(
        num_points, uniform(rng, p.star_inner_ratio), phase=-math.pi / 2 + math.pi / num_points
    )
    return [(np.stack([outer, inner], axis=1).reshape(-1, 2), MASK_ON)]


def _cross(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    a = uniform(rng, p.cross_arm_half_width)
    quarter = np.array([[a, a], [a, 1.0], [-a, 1.0]])  # one arm, then rotated by 90 deg steps
    rotations = [
        np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        for t in np.arange(4) * (math.pi / 2)
    ]
    return [(np.concatenate([quarter @ r.T for r in rotations]), MASK_ON)]


def _ring(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    inner = uniform(rng, p.ring_inner_ratio)
    return [
        (_regular_polygon(CIRCLE_VERTICES), MASK_ON),
        (_regular_polygon(CIRCLE_VERTICES, inner), 0),
    ]


def _hexagon(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    return [(_regular_polygon(6), MASK_ON)]


def _arrow(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    shaft = uniform(rng, p.arrow_shaft_half_width)
    neck = 1.0 - uniform(rng, p.arrow_head_length)
    outline = [
        (-1.0, -shaft),
        (neck, -shaft),
        (neck, -1.0),
        (1.0, 0.0),
        (neck, 1.0),
        (neck, shaft),
        (-1.0, shaft),
    ]
    return [(np.array(outline), MASK_ON)]


# Builders in SHAPE_CLASSES order.
SHAPE_BUILDERS: Tuple[Callable[[np.random.Generator, ShapesParams], Polygons], ...] = (
    _circle,
    _square,
    _triangle,
    _star,
    _cross,
    _ring,
    _hexagon,
    _arrow,
)
assert len(SHAPE_BUILDERS) == NUM_CLASSES


def stretch_rotate(polygons: Polygons, stretch: float, angle: float) -> Tuple[Polygons, float]:
    """
    Stretch the shape along its own x axis (x * sqrt(stretch), y / sqrt(stretch)), rotate it by
    ``angle`` and map its bounding box onto the unit square. Scaling the result by a box of
    aspect ratio w/h equal to the returned aspect gives the stretched, rotated shape without
    shear, filling that box exactly.

    Returns:
        (polygons in the unit square, aspect ratio w/h of the bounding box)
    """
    factors = np.array([math.sqrt(stretch), 1.0 / math.sqrt(stretch)])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    moved = [((poly * factors) @ rot.T, value) for poly, value in polygons]
    outer = moved[0][0]  # the first polygon is the outline; later ones are holes
    lo, hi = outer.min(axis=0), outer.max(axis=0)
    size = hi - lo
    return [((poly - lo) / size, value) for poly, value in moved], float(size[0] / size[1])


def rasterize(
    unit_polygons: Polygons, x0: float, y0: float, w: float, h: float
) -> Tuple[np.ndarray, int, int]:
    """
    Anti-aliased coverage (uint8, 0..MASK_ON) of the shape scaled into the box
    ``[x0, x0 + w] x [y0, y0 + h]`` (continuous coordinates, pixel ``i`` spans ``[i, i + 1)``).

    Returns:
        (coverage, left, top): the coverage of the pixels from column ``left``, row ``top``.
    """
    left, top = math.floor(x0), math.floor(y0)
    width, height = math.ceil(x0 + w) - left, math.ceil(y0 + h) - top
    coverage = np.zeros((height, width), np.uint8)
    # OpenCV puts integer coordinates at pixel centres: shift by half a pixel.
    offset = np.array([x0 - left - 0.5, y0 - top - 0.5])
    scale = np.array([w, h])
    for poly, value in unit_polygons:
        points = np.round((poly * scale + offset) * (1 << SUBPIXEL_BITS)).astype(np.int32)
        cv2.fillPoly(coverage, [points], value, cv2.LINE_AA, SUBPIXEL_BITS)
    return coverage, left, top
