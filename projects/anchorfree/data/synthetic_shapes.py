"""
The embedded dataset: a seeded, deterministic generator of a COCO-format detection dataset of
filled shapes on cluttered backgrounds ("anchorfree_shapes"). Nothing is downloaded; the images
are generated on first use and cached.

What the images contain:

* :data:`NUM_CLASSES` categories told apart by *shape* only (:data:`SHAPE_CLASSES`). Every
  instance gets a random colour (independent of its class), a random size, a stretch along its
  own axis between 1:3 and 3:1 and a rotation (without shear: a stretched square is a rectangle,
  a stretched circle an ellipse); boxes have aspect ratios between 1:3 and 3:1 as drawn (a
  visible-pixel box of an occluded or truncated object can be more elongated).
* Object sizes from a few pixels to most of the image side (log-uniform in scale), so there are
  plenty of small, medium and large objects in the COCO sense, relative to the image size.
* Overlap and partial occlusion: objects are drawn one over the other, and objects may be cut
  by the image border. A placement is rejected when it would leave any object (itself included)
  with less than :attr:`ShapesParams.min_visible_fraction` of its pixels visible, so every
  labeled object stays recognisable and no recognisable object is left unlabeled.
* The ground-truth box is the tight box of the object's *visible* pixels, and ``area`` is the
  visible pixel count.
* Textured clutter backgrounds: colour gradients, smooth colour noise, irregular blotches and
  open strokes, none of which is a category shape.
* Images 256-320 px a side (height and width drawn independently), 0 to 30 objects each.

Determinism: image ``i`` of split ``s`` is generated from its own random generator, seeded by
``(ShapesParams.seed, crc32(s), i)``; generation is therefore identical run to run and does not
depend on the number of worker processes.

On disk (see :func:`generate_synthetic_shapes`), under ``<root>/<split>/``::

    images/000000.jpg ...       # JPEG, quality ShapesParams.jpeg_quality
    instances_<split>.json      # COCO instances format, category ids 1..NUM_CLASSES
    manifest.json               # generator version and parameters; the cache key

The default ``root`` is ``$ANCHORFREE_DATASETS/anchorfree_shapes``, where ``ANCHORFREE_DATASETS``
defaults to ``<repo root>/.cache/datasets`` (the repository root is the directory of
``setup.py``; outside a source checkout, ``~/.cache/anchorfree/datasets``).

Registered datasets (:func:`register_synthetic_shapes`, called when :mod:`anchorfree.data` is
imported; the root is resolved then, so set ``ANCHORFREE_DATASETS`` before that)::

    anchorfree_shapes_train       1000 images  (DEFAULT_SPLITS)
    anchorfree_shapes_val          200 images
    anchorfree_shapes_tiny_train    64 images  (TINY_SPLITS, for tests and smoke runs)
    anchorfree_shapes_tiny_val      32 images
    anchorfree_shapes_demo_train  1200 images  (DEMO_SPLITS: the "demo" difficulty, DEMO_PARAMS,
    anchorfree_shapes_demo_val     200 images   what ``make demo`` trains and evaluates on)

:func:`register_synthetic_shapes_split` registers a split of any size under any name. The
registrations are lazy: registering generates nothing; a split is generated the first time
``DatasetCatalog.get(name)`` is called or its metadata ``json_file`` is read (which
``COCOEvaluator`` does when constructed), whichever comes first.

Command line (generates the default splits and prints their statistics)::

    python -m anchorfree.data.synthetic_shapes [--root DIR] [--splits train val]
        [--num-images N] [--num-workers N] [--force]
"""

import argparse
import contextlib
import dataclasses
import glob
import json
import logging
import math
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import warnings
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from detectron2.data import DatasetCatalog, Metadata, MetadataCatalog
from detectron2.data.datasets import load_coco_json

try:  # POSIX only; elsewhere generation relies on the atomic rename alone.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

# `python -m anchorfree.data.synthetic_shapes` runs this module although importing the package
# `anchorfree.data` has already imported it; runpy warns about that. It is harmless here (the
# command line calls the package's copy, see the end of this file), so silence that one warning.
warnings.filterwarnings(
    "ignore",
    message=r"'anchorfree\.data\.synthetic_shapes' found in sys\.modules",
    category=RuntimeWarning,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_PARAMS",
    "DEFAULT_SPLITS",
    "DEMO_PARAMS",
    "DEMO_SPLITS",
    "GENERATOR_VERSION",
    "NUM_CLASSES",
    "SHAPE_CLASSES",
    "TINY_SPLITS",
    "ShapesParams",
    "SyntheticImage",
    "dataset_statistics",
    "default_root",
    "format_statistics",
    "generate_synthetic_shapes",
    "image_rng",
    "register_synthetic_shapes",
    "register_synthetic_shapes_split",
    "render_synthetic_image",
    "split_params",
]

# Bump whenever a code change alters the generated images or annotations: it is part of the
# cache key, so existing caches are regenerated.
GENERATOR_VERSION = 1

# Category names in id order (COCO category id = index + 1).
SHAPE_CLASSES: Tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "hexagon",
    "arrow",
)
NUM_CLASSES = len(SHAPE_CLASSES)
CATEGORIES: List[Dict[str, Any]] = [
    {"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(SHAPE_CLASSES)
]

DATASET_NAME_PREFIX = "anchorfree_shapes"
DATASETS_ENV_VAR = "ANCHORFREE_DATASETS"
DATASET_DIRNAME = "anchorfree_shapes"
# Outside a source checkout (no setup.py next to projects/) the cache goes here.
FALLBACK_DATASETS_DIR = os.path.join("~", ".cache", "anchorfree", "datasets")

# Split key -> number of images. Registered as f"{DATASET_NAME_PREFIX}_{split}".
DEFAULT_SPLITS: Dict[str, int] = {"train": 1000, "val": 200}
# Small splits for tests and smoke runs: "anchorfree_shapes_tiny_train"/"..._tiny_val".
TINY_SPLITS: Dict[str, int] = {"tiny_train": 64, "tiny_val": 32}
# The demo difficulty's splits (generated with DEMO_PARAMS): "anchorfree_shapes_demo_train"/...
DEMO_SPLITS: Dict[str, int] = {"demo_train": 1200, "demo_val": 200}

IMAGES_DIRNAME = "images"
MANIFEST_FILENAME = "manifest.json"
IMAGE_FILENAME_FORMAT = "{:06d}.jpg"

# COCO's size buckets (areas in px^2, for COCO's typical 640x480 images). Statistics report
# them both as-is (what COCOEvaluator's APs/APm/APl use) and scaled by image area.
COCO_SMALL_AREA = 32.0**2
COCO_MEDIUM_AREA = 96.0**2
COCO_REFERENCE_IMAGE_AREA = 640.0 * 480.0

# Rasterisation: polygon vertices get this many fractional bits (cv2.fillPoly "shift"), and a
# pixel belongs to an object when its anti-aliased coverage is at least half.
SUBPIXEL_BITS = 4
MASK_ON = 255
MASK_THRESHOLD = 128
CIRCLE_VERTICES = 64
MAX_SIZE_SAMPLING_TRIES = 100
QUARTER_TURNS = 4
# Starting a worker process costs about as much as rendering this many images (it imports
# torch and Detectron2): smaller splits are rendered in-process.
MIN_IMAGES_PER_WORKER = 150
MAX_WORKERS = 8
# Tasks go to the workers in this many chunks per worker (balances load, bounds overhead).
CHUNKS_PER_WORKER = 8
NUM_COLOUR_CHANNELS = 3
COLOUR_MAX = 255.0


@dataclasses.dataclass(frozen=True)
class ShapesParams:
    """
    Every parameter of the generator. All of them are part of the cache key (the manifest), so
    changing any of them regenerates a cached split. Lengths are in pixels unless the name ends
    in ``_frac`` (a fraction of the image side, or of the image area for an ``_area_frac``),
    colours are 0-255 per channel, ``(lo, hi)`` pairs are ranges drawn from uniformly.
    """

    # Base seed; image i of split s is seeded by (seed, crc32(s), i).
    seed: int = 20240611
    # Image height and width, each drawn uniformly from [min, max].
    image_min_side: int = 256
    image_max_side: int = 320
    jpeg_quality: int = 95

    # Objects per image: some images are empty, some crowded, the rest have 1..max_objects.
    empty_image_prob: float = 0.05
    crowded_image_prob: float = 0.1
    max_objects: int = 12
    crowded_min_objects: int = 20
    crowded_max_objects: int = 30

    # Object scale sqrt(box_w * box_h), log-uniform in [min_object_scale, frac * shorter side];
    # crowded images use a smaller upper bound so that their objects fit.
    min_object_scale: float = 7.0
    max_object_scale_frac: float = 0.6
    crowded_max_object_scale_frac: float = 0.3
    # Shapes are stretched along their own axis by a factor log-uniform in
    # [1/max_aspect_ratio, max_aspect_ratio], then rotated: by a multiple of 90 degrees with
    # probability axis_aligned_prob (keeping the stretch as the box's aspect ratio), else by a
    # uniform angle. Boxes with aspect ratios w/h beyond the same bounds are re-drawn.
    max_aspect_ratio: float = 3.0
    axis_aligned_prob: float = 0.5
    # Drawn boxes have sides in [min_box_side, max_box_side_frac * image side].
    min_box_side: float = 5.0
    max_box_side_frac: float = 0.9
    # Objects are drawn roughly largest first: sort key log(area) + N(0, jitter).
    size_order_jitter: float = 1.0

    # Placement: at most this fraction of a box side may lie outside the image, every object
    # (earlier ones included) must keep >= min_visible_fraction of its pixels and at least
    # min_visible_pixels visible; a placement violating this is retried elsewhere.
    max_truncation_frac: float = 0.2
    min_visible_fraction: float = 0.5
    min_visible_pixels: int = 12
    placement_tries: int = 30

    # Object appearance: colour uniform in RGB, re-drawn (up to colour_tries times) until it is at
    # least min_colour_contrast (Euclidean) away from the mean colour under the object.
    min_colour_contrast: float = 60.0
    colour_tries: int = 8
    # Linear shading across an object: colour * (1 + s * ramp), s <= max_shading, ramp in [-1, 1].
    max_shading: float = 0.2
    # Shape-specific proportions (of the shape's half-size).
    star_inner_ratio: Tuple[float, float] = (0.38, 0.5)
    cross_arm_half_width: Tuple[float, float] = (0.22, 0.36)
    ring_inner_ratio: Tuple[float, float] = (0.45, 0.65)
    arrow_shaft_half_width: Tuple[float, float] = (0.15, 0.25)
    arrow_head_length: Tuple[float, float] = (0.6, 0.9)

    # Background: a gradient between two random colours, plus smooth colour noise (a random
    # grid of lowres_noise_cells cells a side, upscaled) of amplitude up to smooth_noise_std.
    lowres_noise_cells: Tuple[int, int] = (3, 9)
    smooth_noise_std: float = 35.0
    # Blotches: irregular regions where two octaves of smooth noise exceed a threshold.
    num_blotches: Tuple[int, int] = (1, 6)
    blotch_fine_cells: Tuple[int, int] = (10, 24)
    blotch_fine_weight: float = 0.5
    blotch_threshold: Tuple[float, float] = (0.62, 0.78)
    blotch_edge_softness: float = 0.04
    blotch_opacity: Tuple[float, float] = (0.3, 0.85)
    # Smaller connected blotch regions are dropped (small blobs would look like ellipses).
    min_blotch_area_frac: float = 0.02
    # Strokes: open random-walk polylines (steps of ~stroke_step_frac of the longer image side;
    # two vertices make a straight line), thin compared with objects.
    num_strokes: Tuple[int, int] = (2, 14)
    stroke_vertices: Tuple[int, int] = (2, 8)
    stroke_step_frac: float = 0.15
    stroke_thickness: Tuple[int, int] = (1, 3)
    # Per-pixel sensor noise over the finished image, std drawn from this range.
    pixel_noise_std: Tuple[float, float] = (1.5, 6.0)

    def to_json(self) -> Dict[str, Any]:
        """The parameters as a JSON-compatible dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


DEFAULT_PARAMS = ShapesParams()

# The "demo" difficulty (``anchorfree_shapes_demo_*``, what ``make demo`` trains and evaluates):
# the same generator, categories and kinds of clutter, scaled down so that a detector trained
# from scratch on two CPU cores tells the shapes apart within minutes. Objects are 16 px to half
# the shorter image side (no tiny ones), 1-6 per image with some overlap, less elongated and
# less occluded; backgrounds keep their gradients, noise, blotches and strokes, fewer and fainter.
DEMO_PARAMS = dataclasses.replace(
    DEFAULT_PARAMS,
    crowded_image_prob=0.0,
    max_objects=6,
    min_object_scale=16.0,
    max_object_scale_frac=0.5,
    max_aspect_ratio=2.0,
    min_box_side=10.0,
    max_truncation_frac=0.1,
    min_visible_fraction=0.7,
    min_colour_contrast=90.0,
    smooth_noise_std=20.0,
    num_blotches=(0, 3),
    num_strokes=(1, 5),
    pixel_noise_std=(1.0, 3.0),
)


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
# Shapes. A shape is a list of (polygon, value) pairs in canonical coordinates (about [-1, 1]),
# filled in order with `value` (MASK_ON, or 0 to cut a hole); the first polygon is the outline.
# ---------------------------------------------------------------------------------------------

Polygons = List[Tuple[np.ndarray, int]]


def _regular_polygon(num_vertices: int, radius: float = 1.0, phase: float = 0.0) -> np.ndarray:
    angles = phase + np.arange(num_vertices) * (2.0 * math.pi / num_vertices)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _uniform(rng: np.random.Generator, bounds: Tuple[float, float]) -> float:
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
        num_points, _uniform(rng, p.star_inner_ratio), phase=-math.pi / 2 + math.pi / num_points
    )
    return [(np.stack([outer, inner], axis=1).reshape(-1, 2), MASK_ON)]


def _cross(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    a = _uniform(rng, p.cross_arm_half_width)
    quarter = np.array([[a, a], [a, 1.0], [-a, 1.0]])  # one arm, then rotated by 90 deg steps
    rotations = [
        np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        for t in np.arange(4) * (math.pi / 2)
    ]
    return [(np.concatenate([quarter @ r.T for r in rotations]), MASK_ON)]


def _ring(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    inner = _uniform(rng, p.ring_inner_ratio)
    return [
        (_regular_polygon(CIRCLE_VERTICES), MASK_ON),
        (_regular_polygon(CIRCLE_VERTICES, inner), 0),
    ]


def _hexagon(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    return [(_regular_polygon(6), MASK_ON)]


def _arrow(rng: np.random.Generator, p: ShapesParams) -> Polygons:
    shaft = _uniform(rng, p.arrow_shaft_half_width)
    neck = 1.0 - _uniform(rng, p.arrow_head_length)
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
_SHAPE_BUILDERS: Tuple[Callable[[np.random.Generator, ShapesParams], Polygons], ...] = (
    _circle,
    _square,
    _triangle,
    _star,
    _cross,
    _ring,
    _hexagon,
    _arrow,
)
assert len(_SHAPE_BUILDERS) == NUM_CLASSES


def _stretch_rotate(polygons: Polygons, stretch: float, angle: float) -> Tuple[Polygons, float]:
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


def _rasterize(
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
        threshold = _uniform(rng, p.blotch_threshold)
        alpha = np.clip(
            (field - np.float32(threshold)) * np.float32(1.0 / p.blotch_edge_softness), 0.0, 1.0
        )
        # Small isolated blobs (level sets around a smooth peak) are ellipses: drop them.
        _, labels, stats, _ = cv2.connectedComponentsWithStats((alpha > 0).view(np.uint8))
        keep = stats[:, cv2.CC_STAT_AREA] >= p.min_blotch_area_frac * height * width
        keep[0] = False  # the background label
        alpha *= keep[labels]
        alpha *= np.float32(_uniform(rng, p.blotch_opacity))
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
    polygons = _SHAPE_BUILDERS[category](rng, p)
    log_min = math.log(p.min_object_scale)
    log_max = math.log(max_scale_frac * min(height, width))
    log_aspect = math.log(p.max_aspect_ratio)
    for _ in range(MAX_SIZE_SAMPLING_TRIES):
        stretch = math.exp(rng.uniform(-log_aspect, log_aspect))
        if rng.random() < p.axis_aligned_prob:
            angle = int(rng.integers(QUARTER_TURNS)) * (math.pi / 2)
        else:
            angle = rng.uniform(0.0, 2.0 * math.pi)
        unit_polygons, aspect = _stretch_rotate(polygons, stretch, angle)
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
            coverage, left, top = _rasterize(unit_polygons, x0, y0, w, h)
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

    noise_std = _uniform(rng, p.pixel_noise_std)
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


# ---------------------------------------------------------------------------------------------
# Writing a split, with a cache keyed by a manifest
# ---------------------------------------------------------------------------------------------


def _repo_root() -> Optional[str]:
    """The source checkout's root (the directory of setup.py), or None outside a checkout."""
    # <root>/projects/anchorfree/data/synthetic_shapes.py
    root = os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    )
    if os.path.isfile(os.path.join(root, "setup.py")) and os.path.isdir(
        os.path.join(root, "projects", "anchorfree")
    ):
        return root
    return None


def default_root() -> str:
    """``$ANCHORFREE_DATASETS/anchorfree_shapes``; the variable defaults to
    ``<repo root>/.cache/datasets`` (``~/.cache/anchorfree/datasets`` outside a checkout)."""
    datasets = os.environ.get(DATASETS_ENV_VAR)
    if not datasets:
        repo = _repo_root()
        datasets = (
            os.path.join(repo, ".cache", "datasets")
            if repo
            else os.path.expanduser(FALLBACK_DATASETS_DIR)
        )
    return os.path.join(os.path.abspath(os.path.expanduser(datasets)), DATASET_DIRNAME)


def _split_files(split_dir: str, split: str) -> Tuple[str, str, str]:
    """(json_file, image_root, manifest) of ``split`` in the directory ``split_dir``."""
    return (
        os.path.join(split_dir, f"instances_{split}.json"),
        os.path.join(split_dir, IMAGES_DIRNAME),
        os.path.join(split_dir, MANIFEST_FILENAME),
    )


def _split_paths(root: str, split: str) -> Tuple[str, str, str]:
    """(json_file, image_root, manifest) of ``split`` under ``root``."""
    return _split_files(os.path.join(root, split), split)


def _manifest(split: str, num_images: int, params: ShapesParams) -> Dict[str, Any]:
    return {
        "generator": __name__,
        "generator_version": GENERATOR_VERSION,
        "split": split,
        "num_images": num_images,
        "params": params.to_json(),
    }


def _read_json(path: str) -> Optional[Any]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _check_split_name(split: str) -> None:
    if not split or os.sep in split or split.startswith(".") or (os.altsep and os.altsep in split):
        raise ValueError(f"Invalid split name {split!r}: it names a directory under the root.")


def _render_and_write(
    task: Tuple[ShapesParams, str, int, str],
) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Worker: render image ``index`` and write its JPEG; returns its COCO image record and
    annotations (without annotation ids, which the caller assigns in image order)."""
    params, split, index, image_dir = task
    result = render_synthetic_image(image_rng(params.seed, split, index), params)
    file_name = IMAGE_FILENAME_FORMAT.format(index)
    ok, encoded = cv2.imencode(
        ".jpg", result.image, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality]
    )
    if not ok:  # pragma: no cover
        raise RuntimeError(f"JPEG encoding failed for {file_name}")
    with open(os.path.join(image_dir, file_name), "wb") as f:
        f.write(encoded.tobytes())
    height, width = result.image.shape[:2]
    image = {"id": index + 1, "file_name": file_name, "height": height, "width": width}
    annotations = [
        {
            "image_id": index + 1,
            "category_id": inst.category_id,
            "bbox": list(inst.bbox),
            "area": inst.area,
            "iscrowd": 0,
        }
        for inst in result.instances
    ]
    return image, annotations


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe


def _cpu_count() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def _render_all(
    tasks: List[Tuple[ShapesParams, str, int, str]], num_workers: int
) -> Iterator[Tuple[Dict[str, Any], List[Dict[str, Any]]]]:
    """Results of :func:`_render_and_write` in task order, from ``num_workers`` processes.
    Output does not depend on ``num_workers``: every image has its own seed."""
    num_workers = min(num_workers, len(tasks) // MIN_IMAGES_PER_WORKER)
    if mp.current_process().daemon:  # e.g. a data-loader worker: may not start processes
        num_workers = 1
    if num_workers <= 1:
        for task in tasks:
            yield _render_and_write(task)
        return
    # "spawn": forking a process that holds torch / OpenCV thread pools is not safe.
    context = mp.get_context("spawn")
    chunksize = max(1, len(tasks) // (num_workers * CHUNKS_PER_WORKER))
    with context.Pool(num_workers, initializer=_worker_init) as pool:
        yield from pool.imap(_render_and_write, tasks, chunksize=chunksize)


def _write_split(
    split_dir: str, split: str, num_images: int, params: ShapesParams, num_workers: int
) -> None:
    """Generate the whole split into the (new, empty) ``split_dir``; the manifest comes last."""
    json_file, image_dir, manifest_file = _split_files(split_dir, split)
    os.makedirs(image_dir)
    tasks = [(params, split, i, image_dir) for i in range(num_images)]
    images, annotations = [], []
    for image, anns in _render_all(tasks, num_workers):
        images.append(image)
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, **ann})
    coco = {
        "info": {
            "description": f"anchorfree synthetic shapes, split {split!r}",
            "version": str(GENERATOR_VERSION),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": CATEGORIES,
    }
    with open(json_file, "w") as f:
        json.dump(coco, f)
    with open(manifest_file, "w") as f:
        json.dump(_manifest(split, num_images, params), f, indent=2, sort_keys=True)


@contextlib.contextmanager
def _exclusive_lock(path: str) -> Iterator[None]:
    """An inter-process lock (``fcntl.flock``) on ``path``; a no-op where fcntl is missing."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def split_params(split: str) -> ShapesParams:
    """The generation parameters of a split key: ``DEMO_PARAMS`` for the ``DEMO_SPLITS``,
    ``DEFAULT_PARAMS`` (the standard difficulty) for every other split."""
    return DEMO_PARAMS if split in DEMO_SPLITS else DEFAULT_PARAMS


def generate_synthetic_shapes(
    root: Optional[str] = None,
    split: str = "train",
    num_images: Optional[int] = None,
    params: Optional[ShapesParams] = None,
    num_workers: Optional[int] = None,
    force: bool = False,
) -> Tuple[str, str]:
    """
    Make sure ``split`` is generated under ``root`` and return its ``(json_file, image_root)``.

    A cached split is reused when its manifest matches (generator version, split, number of
    images, parameters); otherwise it is generated again. Safe when several processes call it
    at once: generation holds a per-split file lock and writes into a temporary directory that
    is renamed into place when complete (the manifest is written last), so a split directory
    with a matching manifest is always complete.

    Args:
        root: the dataset directory; :func:`default_root` when None.
        split: split key, also the directory name and part of every image's seed.
        num_images: defaults to ``DEFAULT_SPLITS`` / ``TINY_SPLITS`` / ``DEMO_SPLITS`` for
            known split keys.
        params: generation parameters; :func:`split_params` of ``split`` when None.
        num_workers: processes to render with; the output does not depend on it. The default,
            1, renders in-process (about 20 s for the default splits on 2 CPU cores): worker
            processes are started with "spawn", which re-imports the caller's main module, and
            a main script without an ``if __name__ == "__main__"`` guard that loads the dataset
            would then deadlock. The command line uses all CPUs.
        force: regenerate even when the cache matches.
    """
    _check_split_name(split)
    if num_images is None:
        known = {**DEFAULT_SPLITS, **TINY_SPLITS, **DEMO_SPLITS}
        if split not in known:
            raise ValueError(f"num_images is required for split {split!r} (known: {sorted(known)})")
        num_images = known[split]
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    if params is None:
        params = split_params(split)
    root = os.path.abspath(root or default_root())
    json_file, image_root, manifest_file = _split_paths(root, split)
    expected = _manifest(split, num_images, params)
    if not force and _read_json(manifest_file) == expected:
        return json_file, image_root

    os.makedirs(root, exist_ok=True)
    with _exclusive_lock(os.path.join(root, f".{split}.lock")):
        # Another process may have generated it while we waited for the lock.
        if not force and _read_json(manifest_file) == expected:
            return json_file, image_root
        # Leftovers of interrupted runs (we hold the lock: nobody else is writing them).
        for stale in glob.glob(os.path.join(root, f".{split}.tmp-*")) + glob.glob(
            os.path.join(root, f".{split}.old-*")
        ):
            shutil.rmtree(stale, ignore_errors=True)
        workers = num_workers if num_workers is not None else 1
        logger.info(
            f"Generating synthetic shapes split '{split}' ({num_images} images) in {root} ..."
        )
        start = time.perf_counter()
        tmp_dir = tempfile.mkdtemp(prefix=f".{split}.tmp-", dir=root)
        try:
            split_tmp = os.path.join(tmp_dir, split)
            _write_split(split_tmp, split, num_images, params, workers)
            split_dir = os.path.join(root, split)
            old_dir = None
            if os.path.lexists(split_dir):
                old_dir = tempfile.mkdtemp(prefix=f".{split}.old-", dir=root)
                os.replace(split_dir, os.path.join(old_dir, split))
            os.replace(split_tmp, split_dir)
            if old_dir is not None:
                shutil.rmtree(old_dir, ignore_errors=True)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        logger.info(f"Generated split '{split}' in {time.perf_counter() - start:.1f} s.")
    return json_file, image_root


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _SplitSpec:
    """What a registered dataset name generates: ``num_images`` of ``split`` under ``root``."""

    root: str
    split: str
    num_images: int
    params: ShapesParams

    def ensure(self) -> Tuple[str, str]:
        """Generate the split if it is not cached; returns ``(json_file, image_root)``."""
        return generate_synthetic_shapes(self.root, self.split, self.num_images, self.params)


class _LazySplitMetadata(Metadata):
    """
    Metadata of a registered synthetic split. Reading ``json_file`` (as ``COCOEvaluator`` does
    in its constructor) first generates the split if needed, so the file always exists by the
    time anyone opens it; every other field is plain metadata.
    """

    @property
    def json_file(self) -> str:  # type: ignore[override]
        try:
            json_file, _ = self.__dict__["synthetic_split"].ensure()
        except AttributeError as e:  # would be swallowed by Metadata.__getattr__
            raise RuntimeError(f"Generating dataset '{self.name}' failed: {e}") from e
        return json_file


# name -> spec of the datasets registered by this module
_REGISTERED: Dict[str, _SplitSpec] = {}


def register_synthetic_shapes_split(
    name: str,
    split: str,
    num_images: int,
    root: Optional[str] = None,
    params: ShapesParams = DEFAULT_PARAMS,
) -> None:
    """
    Register ``num_images`` images of ``split`` (generated under ``root``) as the COCO-format
    instance detection dataset ``name``, lazily: nothing is generated until the dataset is
    loaded with ``DatasetCatalog.get(name)`` or its metadata ``json_file`` is read.

    Metadata: ``json_file``, ``image_root``, ``evaluator_type="coco"``, ``thing_classes`` and
    ``thing_dataset_id_to_contiguous_id`` (as :func:`register_coco_instances` plus
    ``load_coco_json`` would set them).

    Idempotent: registering the same name with the same arguments again does nothing; with
    different arguments it replaces this module's earlier registration. A name registered by
    anything else is an error.
    """
    _check_split_name(split)
    spec = _SplitSpec(os.path.abspath(root or default_root()), split, num_images, params)
    registered = name in DatasetCatalog.list()
    if (
        registered
        and _REGISTERED.get(name) == spec
        and isinstance(MetadataCatalog.get(name), _LazySplitMetadata)
    ):
        return
    if registered:
        if name not in _REGISTERED:
            raise ValueError(f"Dataset '{name}' is already registered by something else.")
        logger.info(f"Re-registering dataset '{name}' with new arguments.")
        DatasetCatalog.remove(name)
    MetadataCatalog.pop(name, None)

    def load() -> List[Dict[str, Any]]:
        json_file, image_root = spec.ensure()
        return load_coco_json(json_file, image_root, name)

    DatasetCatalog.register(name, load)
    _, image_root, _ = _split_paths(spec.root, split)
    metadata = _LazySplitMetadata(name=name)
    metadata.set(
        synthetic_split=spec,
        image_root=image_root,
        evaluator_type="coco",
        thing_classes=list(SHAPE_CLASSES),
        thing_dataset_id_to_contiguous_id={c["id"]: i for i, c in enumerate(CATEGORIES)},
    )
    MetadataCatalog[name] = metadata
    _REGISTERED[name] = spec


def register_synthetic_shapes(root: Optional[str] = None) -> None:
    """
    Register the embedded dataset, lazily (see :func:`register_synthetic_shapes_split`):
    ``anchorfree_shapes_train`` / ``anchorfree_shapes_val`` (``DEFAULT_SPLITS``) and
    ``anchorfree_shapes_tiny_train`` / ``anchorfree_shapes_tiny_val`` (``TINY_SPLITS``) and
    ``anchorfree_shapes_demo_train`` / ``anchorfree_shapes_demo_val`` (``DEMO_SPLITS``,
    generated with ``DEMO_PARAMS``), all under ``root`` (default :func:`default_root`, resolved
    now). Idempotent.
    """
    for split, num_images in {**DEFAULT_SPLITS, **TINY_SPLITS, **DEMO_SPLITS}.items():
        register_synthetic_shapes_split(
            f"{DATASET_NAME_PREFIX}_{split}", split, num_images, root, split_params(split)
        )


# ---------------------------------------------------------------------------------------------
# Statistics and command line
# ---------------------------------------------------------------------------------------------


def _bucket(area: float, small: float, medium: float) -> str:
    return "small" if area < small else "medium" if area < medium else "large"


def dataset_statistics(coco: Dict[str, Any]) -> Dict[str, Any]:
    """
    Statistics of a COCO instances dict: counts per class, COCO size buckets (absolute, as
    COCOEvaluator uses them, and scaled by image area relative to a 640x480 COCO image), box
    side and aspect-ratio (w/h) ranges, objects per image, images with overlapping boxes.
    """
    images = {im["id"]: im for im in coco["images"]}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    per_class = {name: 0 for name in names.values()}
    buckets_abs = {"small": 0, "medium": 0, "large": 0}
    buckets_scaled = dict(buckets_abs)
    per_image: Dict[int, List[List[float]]] = {i: [] for i in images}
    sides, aspects = [], []
    max_side_frac = 0.0
    for ann in coco["annotations"]:
        image = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        per_class[names[ann["category_id"]]] += 1
        per_image[ann["image_id"]].append([x, y, x + w, y + h])
        buckets_abs[_bucket(ann["area"], COCO_SMALL_AREA, COCO_MEDIUM_AREA)] += 1
        scale = image["height"] * image["width"] / COCO_REFERENCE_IMAGE_AREA
        buckets_scaled[_bucket(ann["area"], COCO_SMALL_AREA * scale, COCO_MEDIUM_AREA * scale)] += 1
        sides += [w, h]
        aspects.append(w / h)
        max_side_frac = max(max_side_frac, w / image["width"], h / image["height"])
    counts = [len(boxes) for boxes in per_image.values()]
    overlapping = 0
    for boxes in per_image.values():
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        iw = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
        ih = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
        overlap = (iw > 0) & (ih > 0)
        np.fill_diagonal(overlap, False)
        overlapping += int(overlap.any())
    heights = [im["height"] for im in images.values()]
    widths = [im["width"] for im in images.values()]
    return {
        "num_images": len(images),
        "num_instances": len(coco["annotations"]),
        "instances_per_class": per_class,
        "size_buckets_scaled": buckets_scaled,
        "size_buckets_coco_absolute": buckets_abs,
        "box_side_range": [min(sides, default=0.0), max(sides, default=0.0)],
        "max_box_side_frac_of_image": max_side_frac,
        "aspect_ratio_range": [min(aspects, default=0.0), max(aspects, default=0.0)],
        "objects_per_image": {
            "min": min(counts, default=0),
            "max": max(counts, default=0),
            "mean": float(np.mean(counts)) if counts else 0.0,
        },
        "images_with_0_objects": sum(c == 0 for c in counts),
        "images_with_20_or_more_objects": sum(c >= 20 for c in counts),
        "images_with_overlapping_boxes": overlapping,
        "image_height_range": [min(heights, default=0), max(heights, default=0)],
        "image_width_range": [min(widths, default=0), max(widths, default=0)],
    }


def format_statistics(stats: Dict[str, Any]) -> str:
    """Human-readable lines of :func:`dataset_statistics`."""
    lines = [
        f"  images: {stats['num_images']} "
        f"(height {stats['image_height_range']}, width {stats['image_width_range']}), "
        f"instances: {stats['num_instances']}",
        "  instances per class: "
        + ", ".join(f"{k} {v}" for k, v in stats["instances_per_class"].items()),
    ]
    for key, label in (
        ("size_buckets_scaled", "sizes (COCO thresholds scaled to image area)"),
        ("size_buckets_coco_absolute", "sizes (COCO absolute thresholds)"),
    ):
        total = max(1, stats["num_instances"])
        lines.append(
            f"  {label}: "
            + ", ".join(f"{k} {v} ({100.0 * v / total:.0f}%)" for k, v in stats[key].items())
        )
    lo, hi = stats["box_side_range"]
    lines.append(
        f"  box sides: {lo:.0f}..{hi:.0f} px "
        f"(max {stats['max_box_side_frac_of_image']:.2f} of the image side)"
    )
    lo, hi = stats["aspect_ratio_range"]
    lines.append(
        f"  aspect ratio w/h: {lo:.3f}..{hi:.3f} "
        f"(1:{1.0 / lo if lo > 0 else math.inf:.2f} .. {hi:.2f}:1)"
    )
    opi = stats["objects_per_image"]
    lines.append(
        f"  objects per image: min {opi['min']}, max {opi['max']}, mean {opi['mean']:.1f};"
        f" images with 0: {stats['images_with_0_objects']}, with >= 20: "
        f"{stats['images_with_20_or_more_objects']}, with overlapping boxes: "
        f"{stats['images_with_overlapping_boxes']}"
    )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: generate splits (default: train and val) and print their statistics."""
    parser = argparse.ArgumentParser(
        prog="python -m anchorfree.data.synthetic_shapes",
        description="Generate the embedded synthetic shapes dataset and print statistics.",
    )
    parser.add_argument(
        "--root", default=None, help=f"dataset directory (default: {default_root()})"
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        default=list(DEFAULT_SPLITS),
        help="split keys (default: %(default)s); known sizes: "
        f"{ {**DEFAULT_SPLITS, **TINY_SPLITS, **DEMO_SPLITS} }",
    )
    parser.add_argument(
        "--num-images",
        type=int,
        default=None,
        help="images per split (default: the split's standard size)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=_cpu_count(),
        help="rendering processes (default: the number of CPUs, %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    total = 0.0
    for split in args.splits:
        start = time.perf_counter()
        json_file, image_root = generate_synthetic_shapes(
            args.root, split, args.num_images, num_workers=args.num_workers, force=args.force
        )
        elapsed = time.perf_counter() - start
        total += elapsed
        with open(json_file) as f:
            stats = dataset_statistics(json.load(f))
        print(
            f"split '{split}': {json_file} (images in {image_root})\n"
            f"{format_statistics(stats)}\n  time: {elapsed:.1f} s"
        )
    print(f"total time: {total:.1f} s")


if __name__ == "__main__":
    # Run the package's copy of this module (``python -m`` executes a second one as __main__).
    from anchorfree.data.synthetic_shapes import main as _main

    _main(sys.argv[1:])
