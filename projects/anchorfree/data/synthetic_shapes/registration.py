"""Registering splits as lazy Detectron2 datasets: nothing is generated until a split is loaded
or its metadata ``json_file`` is read."""

import dataclasses
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

from detectron2.data import DatasetCatalog, Metadata, MetadataCatalog
from detectron2.data.datasets import load_coco_json

from .cache import check_split_name, default_root, generate_synthetic_shapes, split_paths
from .params import (
    CATEGORIES,
    DEFAULT_PARAMS,
    SHAPE_CLASSES,
    STANDARD_SPLITS,
    ShapesParams,
    split_params,
)

logger = logging.getLogger(__name__)

DATASET_NAME_PREFIX = "anchorfree_shapes"


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
    check_split_name(split)
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
    _, image_root, _ = split_paths(spec.root, split)
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
    for split, num_images in STANDARD_SPLITS.items():
        register_synthetic_shapes_split(
            f"{DATASET_NAME_PREFIX}_{split}", split, num_images, root, split_params(split)
        )


# ---------------------------------------------------------------------------------------------
