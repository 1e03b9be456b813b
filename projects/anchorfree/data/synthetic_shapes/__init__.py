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

The package, one concern per module: :mod:`.params` (the parameters, categories and split
tables), :mod:`.polygons` (the shapes), :mod:`.drawing` (rendering an image), :mod:`.cache`
(writing a split, the disk cache and its lock), :mod:`.registration` (the lazy Detectron2
datasets), :mod:`.statistics` and :mod:`.__main__` (the command line).
"""

from .cache import GENERATOR_VERSION, default_root, generate_synthetic_shapes
from .drawing import SyntheticImage, image_rng, render_synthetic_image
from .params import (
    CATEGORIES,
    DEFAULT_PARAMS,
    DEFAULT_SPLITS,
    DEMO_PARAMS,
    DEMO_SPLITS,
    NUM_CLASSES,
    SHAPE_CLASSES,
    TINY_SPLITS,
    ShapesParams,
    split_params,
)
from .registration import register_synthetic_shapes, register_synthetic_shapes_split
from .statistics import dataset_statistics, format_statistics

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
