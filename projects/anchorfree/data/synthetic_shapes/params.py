"""The generator's parameters (:class:`ShapesParams`, the two difficulties), its categories and
the standard split tables."""

import dataclasses
import json
from typing import Any, Dict, List, Tuple

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

# Split key -> number of images. Registered as f"anchorfree_shapes_{split}".
DEFAULT_SPLITS: Dict[str, int] = {"train": 1000, "val": 200}
# Small splits for tests and smoke runs: "anchorfree_shapes_tiny_train"/"..._tiny_val".
TINY_SPLITS: Dict[str, int] = {"tiny_train": 64, "tiny_val": 32}
# The demo difficulty's splits (generated with DEMO_PARAMS): "anchorfree_shapes_demo_train"/...
DEMO_SPLITS: Dict[str, int] = {"demo_train": 1200, "demo_val": 200}
# Every split key with a standard size.
STANDARD_SPLITS: Dict[str, int] = {**DEFAULT_SPLITS, **TINY_SPLITS, **DEMO_SPLITS}


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


def split_params(split: str) -> ShapesParams:
    """The generation parameters of a split key: ``DEMO_PARAMS`` for the ``DEMO_SPLITS``,
    ``DEFAULT_PARAMS`` (the standard difficulty) for every other split."""
    return DEMO_PARAMS if split in DEMO_SPLITS else DEFAULT_PARAMS
