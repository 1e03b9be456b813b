"""Rendering one image: the clutter background, placing and painting the objects
(:func:`render_synthetic_image`), and each image's seeded generator (:func:`image_rng`). The
shapes themselves are in :mod:`.polygons`."""

import dataclasses
import math
import zlib
from typing import List, Optional, Tuple

import cv2
import numpy as np

from .params import DEFAULT_PARAMS, NUM_CLASSES, ShapesParams
from .polygons import MASK_ON, SHAPE_BUILDERS, Polygons, rasterize, stretch_rotate, uniform

# A pixel belongs to an object when its anti-aliased coverage is at least half.
MASK_THRESHOLD = 128
MAX_SIZE_SAMPLING_TRIES = 100
QUARTER_TURNS = 4
NUM_COLOUR_CHANNELS = 3
COLOUR_MAX = 255.0


@dataclasses.dataclass
class SyntheticInstance:
    """One object of a :class:`SyntheticImage`. ``bbox`` is XYWH of the visible pixels."""

    category_id: int
    bbox: Tuple[float, float, float, float]
    area: float
    full_area: int
    colour_bgr: Tuple[float, float, float]


@dataclasses.dataclass
class SyntheticImage:
    """
    A generated image before it is written: ``image`` is HxWx3 uint8 BGR, ``instance_map`` is
    HxW int32 with 0 for background and ``k`` where instance ``instances[k - 1]`` is visible.
    """

    image: np.ndarray
    instance_map: np.ndarray
    instances: List[SyntheticInstance]


# ---------------------------------------------------------------------------------------------
# Background
# ---------------------------------------------------------------------------------------------


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, COLOUR_MAX, NUM_COLOUR_CHANNELS)


def _smooth_noise(
    rng: np.random.Generator, cells: Tuple[int, int], height: int, width: int, channels: int = 1
) -> np.ndarray:
    """Random values on a coarse grid, bicubically upscaled to ``height x width``."""
    gh, gw = (int(rng.integers(cells[0], cells[1] + 1)) for _ in range(2))
    grid = rng.random((gh, gw, channels)).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return field.reshape(height, width, channels)


def _render_background(
    rng: np.random.Generator, height: int, width: int, p: ShapesParams
) -> np.ndarray:
    """A textured clutter background, HxWx3 uint8 BGR (see :class:`ShapesParams`)."""
    # Gradient between two colours along a random direction.
    angle = rng.uniform(0.0, 2.0 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = xs * math.cos(angle) + ys * math.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1.0)
    c0, c1 = _random_colour(rng), _random_colour(rng)
    # Per channel and merged: much faster than numpy broadcasting over a last axis of 3.
    image = cv2.merge([float(a) + float(b - a) * ramp for a, b in zip(c0, c1)])
    # Smooth colour noise.
    noise_std = rng.uniform(0.0, p.smooth_noise_std)
    noise = _smooth_noise(rng, p.lowres_noise_cells, height, width, NUM_COLOUR_CHANNELS)
    image += (noise - 0.5) * np.float32(2.0 * noise_std)
    # Irregular blotches.
    for _ in range(int(rng.integers(p.num_blotches[0], p.num_blotches[1] + 1))):
        field = _smooth_noise(rng, p.lowres_noise_cells, height, width)[..., 0]
        field += p.blotch_fine_weight * (
            _smooth_noise(rng, p.blotch_fine_cells, height, width)[..., 0] - 0.5
        )
        threshold = uniform(rng, p.blotch_threshold)
        alpha = np.clip(
            (field - np.float32(threshold)) * np.float32(1.0 / p.blotch_edge_softness), 0.0, 1.0
        )
        # Small isolated blobs (level sets around a smooth peak) are ellipses: drop them.
        _, labels, stats, _ = cv2.connectedComponentsWithStats((alpha > 0).view(np.uint8))
        keep = stats[:, cv2.CC_STAT_AREA] >= p.min_blotch_area_frac * height * width
        keep[0] = False  # the background label
        alpha *= keep[labels]
        alpha *= np.float32(uniform(rng, p.blotch_opacity))
        colour = _random_colour(rng).astype(np.float32)
        image += (colour - image) * cv2.merge([alpha] * NUM_COLOUR_CHANNELS)
    canvas = np.clip(image, 0.0, COLOUR_MAX).astype(np.uint8)
    # Open strokes: random walks, some of them a single straight segment.
    step = p.stroke_step_frac * max(height, width)
    for _ in range(int(rng.integers(p.num_strokes[0], p.num_strokes[1] + 1))):
        num_vertices = int(rng.integers(p.stroke_vertices[0], p.stroke_vertices[1] + 1))
        start = rng.uniform((0.0, 0.0), (width, height))
        points = start + np.cumsum(rng.normal(0.0, step, (num_vertices, 2)), axis=0)
        points[0] = start
        thickness = int(rng.integers(p.stroke_thickness[0], p.stroke_thickness[1] + 1))
        colour = tuple(float(c) for c in _random_colour(rng))
        cv2.polylines(
            canvas, [np.round(points).astype(np.int32)], False, colour, thickness, cv2.LINE_AA
        )
    return canvas


# ---------------------------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _ObjectSpec:
    category: int  # 0-based
    unit_polygons: Polygons  # the stretched, rotated shape in the unit square
    width: float  # of its box
    height: float


def _sample_object(
    rng: np.random.Generator, height: int, width: int, max_scale_frac: float, p: ShapesParams
) -> Optional[_ObjectSpec]:
    """
    One object: a random category; a stretch along the shape's own axis, log-uniform in
    [1/max_aspect_ratio, max_aspect_ratio]; a rotation (a multiple of 90 degrees with
    probability ``axis_aligned_prob``, else uniform); a box scale sqrt(w * h) log-uniform in
    [min_object_scale, max_scale_frac * shorter image side]. Stretch, rotation and scale are
    re-drawn until the box has an aspect ratio within the bounds and sides that fit. None if
    that fails (it practically does not).
    """
    category = int(rng.integers(NUM_CLASSES))
    polygons = SHAPE_BUILDERS[category](rng, p)
    log_min = math.log(p.min_object_scale)
    log_max = math.log(max_scale_frac * min(height, width))
    log_aspect = math.log(p.max_aspect_ratio)
    for _ in range(MAX_SIZE_SAMPLING_TRIES):
        stretch = math.exp(rng.uniform(-log_aspect, log_aspect))
        if rng.random() < p.axis_aligned_prob:
            angle = int(rng.integers(QUARTER_TURNS)) * (math.pi / 2)
        else:
            angle = rng.uniform(0.0, 2.0 * math.pi)
        unit_polygons, aspect = stretch_rotate(polygons, stretch, angle)
        scale = math.exp(rng.uniform(log_min, log_max))
        w, h = scale * math.sqrt(aspect), scale / math.sqrt(aspect)
        if (
            abs(math.log(aspect)) <= log_aspect
            and min(w, h) >= p.min_box_side
            and w <= p.max_box_side_frac * width
            and h <= p.max_box_side_frac * height
        ):
            return _ObjectSpec(category, unit_polygons, w, h)
    return None


def _sample_objects(
    rng: np.random.Generator, height: int, width: int, p: ShapesParams
) -> List[_ObjectSpec]:
    """The objects to try to place, in drawing order (roughly largest first)."""
    kind = rng.random()
    if kind < p.empty_image_prob:
        return []
    if kind < p.empty_image_prob + p.crowded_image_prob:
        count = int(rng.integers(p.crowded_min_objects, p.crowded_max_objects + 1))
        max_scale_frac = p.crowded_max_object_scale_frac
    else:
        count = int(rng.integers(1, p.max_objects + 1))
        max_scale_frac = p.max_object_scale_frac
    specs, keys = [], []
    for _ in range(count):
        spec = _sample_object(rng, height, width, max_scale_frac, p)
        if spec is not None:
            specs.append(spec)
            keys.append(math.log(spec.width * spec.height) + rng.normal(0.0, p.size_order_jitter))
    order = sorted(range(len(specs)), key=lambda i: -keys[i])
    return [specs[i] for i in order]


def _pick_colour(rng: np.random.Generator, under: np.ndarray, p: ShapesParams) -> np.ndarray:
    """A uniformly random colour, re-drawn until it contrasts with the mean colour ``under``."""
    best, best_distance = None, -1.0
    for _ in range(p.colour_tries):
        colour = _random_colour(rng)
        distance = float(np.linalg.norm(colour - under))
        if distance > best_distance:
            best, best_distance = colour, distance
        if distance >= p.min_colour_contrast:
            break
    return best


def _paint(
    rng: np.random.Generator,
    canvas: np.ndarray,
    coverage: np.ndarray,
    window: Tuple[slice, slice],
    local: Tuple[slice, slice],
    colour: np.ndarray,
    p: ShapesParams,
) -> None:
    """Alpha-blend the object (``colour`` with a random linear shading) into ``canvas``."""
    alpha = coverage[local].astype(np.float32)[..., None] / MASK_ON
    h, w = alpha.shape[:2]
    angle = rng.uniform(0.0, 2.0 * math.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = xs * math.cos(angle) + ys * math.sin(angle)
    ramp = 2.0 * (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1.0) - 1.0
    shaded = colour * (1.0 + rng.uniform(0.0, p.max_shading) * ramp[..., None])
    region = canvas[window].astype(np.float32)
    blended = region + (np.clip(shaded, 0.0, COLOUR_MAX) - region) * alpha
    canvas[window] = np.round(blended).astype(np.uint8)


def render_synthetic_image(
    rng: np.random.Generator, params: ShapesParams = DEFAULT_PARAMS
) -> SyntheticImage:
    """
    Generate one image and its instances from ``rng`` (see :func:`image_rng`).

    Objects are placed one at a time, each drawn over the previous ones; a placement is retried
    (up to ``params.placement_tries`` times, then the object is dropped) when it would leave
    the new object or any earlier one with less than ``params.min_visible_fraction`` of its
    pixels (or fewer than ``params.min_visible_pixels``) visible.
    """
    p = params
    height = int(rng.integers(p.image_min_side, p.image_max_side + 1))
    width = int(rng.integers(p.image_min_side, p.image_max_side + 1))
    canvas = _render_background(rng, height, width, p)
    instance_map = np.zeros((height, width), np.int32)
    full_areas: List[int] = [0]  # index = instance id; 0 is the background
    visible = [0]
    categories, colours = [-1], [np.zeros(NUM_COLOUR_CHANNELS)]
    windows: List[Tuple[slice, slice]] = [(slice(0, height), slice(0, width))]

    for spec in _sample_objects(rng, height, width, p):
        unit_polygons, w, h = spec.unit_polygons, spec.width, spec.height
        for _ in range(p.placement_tries):
            x0 = rng.uniform(-p.max_truncation_frac * w, width - (1.0 - p.max_truncation_frac) * w)
            y0 = rng.uniform(-p.max_truncation_frac * h, height - (1.0 - p.max_truncation_frac) * h)
            coverage, left, top = rasterize(unit_polygons, x0, y0, w, h)
            mask = coverage >= MASK_THRESHOLD
            full_area = int(mask.sum())
            # The part of the local raster that lies inside the image.
            ly0, lx0 = max(0, -top), max(0, -left)
            ly1 = min(mask.shape[0], height - top)
            lx1 = min(mask.shape[1], width - left)
            if full_area == 0 or ly1 <= ly0 or lx1 <= lx0:
                continue
            local = (slice(ly0, ly1), slice(lx0, lx1))
            window = (slice(top + ly0, top + ly1), slice(left + lx0, left + lx1))
            inside = mask[local]
            num_inside = int(inside.sum())
            if num_inside < max(p.min_visible_fraction * full_area, p.min_visible_pixels):
                continue
            covered = np.bincount(instance_map[window][inside], minlength=len(visible))
            remaining = np.asarray(visible) - covered
            needed = np.maximum(
                p.min_visible_fraction * np.asarray(full_areas), p.min_visible_pixels
            )
            if np.any((remaining < needed)[1:]):
                continue
            under = canvas[window][inside].mean(axis=0)
            colour = _pick_colour(rng, under, p)
            _paint(rng, canvas, coverage, window, local, colour, p)
            new_id = len(visible)
            instance_map[window][inside] = new_id
            visible = list(remaining) + [num_inside]
            full_areas.append(full_area)
            categories.append(spec.category)
            colours.append(colour)
            windows.append(window)
            break

    noise_std = uniform(rng, p.pixel_noise_std)
    noise = rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(noise_std)
    noisy = canvas.astype(np.float32) + noise
    image = np.clip(np.round(noisy), 0.0, COLOUR_MAX).astype(np.uint8)

    instances = []
    for k in range(1, len(visible)):
        # Occlusion only shrinks an instance: its pixels stay inside the window it was drawn in.
        ys, xs = np.nonzero(instance_map[windows[k]] == k)
        ys, xs = ys + windows[k][0].start, xs + windows[k][1].start
        x_min, y_min = int(xs.min()), int(ys.min())
        x_end, y_end = int(xs.max()) + 1, int(ys.max()) + 1  # exclusive pixel bounds
        bbox = (float(x_min), float(y_min), float(x_end - x_min), float(y_end - y_min))
        instances.append(
            SyntheticInstance(
                category_id=categories[k] + 1,
                bbox=bbox,
                area=float(len(xs)),
                full_area=full_areas[k],
                colour_bgr=tuple(float(c) for c in colours[k]),
            )
        )
    return SyntheticImage(image=image, instance_map=instance_map, instances=instances)


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of image ``index`` of ``split``: seeded by
    ``(seed, crc32(split), index)`` (``hash()`` of a str is not stable across runs)."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(split.encode("utf-8")), index])
    return np.random.Generator(np.random.PCG64(sequence))
