"""
COCO-format datasets named on the command line: ``ROLE=PATH.json:IMAGE_DIR``.

``train_net.py --dataset train=data/train.json:data/images`` (and ``tools/demo.py --dataset
test=...``) name a dataset by its files rather than by a registered name. :func:`parse_dataset_spec`
reads such a spec and :func:`register_coco_dataset` registers it with Detectron2 under a name
derived from its paths (the same in every process of a run), with the class names of the json
in its metadata (``thing_classes``, in category-id order as Detectron2's ``load_coco_json``
orders them).
"""

import dataclasses
import hashlib
import json
import logging
import os
from typing import List

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances

__all__ = ["DATASET_ROLES", "DatasetSpec", "parse_dataset_spec", "register_coco_dataset"]

logger = logging.getLogger(__name__)

# ``train`` replaces a config's training set, ``test`` its evaluation set.
DATASET_ROLES = ("train", "test")

SPEC_FORM = "ROLE=PATH.json:IMAGE_DIR"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A COCO-format dataset given by its annotation file and image folder, in one role."""

    role: str
    json_file: str
    image_root: str

    @property
    def name(self) -> str:
        """The registered name: the json's stem and a hash of both absolute paths."""
        paths = f"{os.path.abspath(self.json_file)}\n{os.path.abspath(self.image_root)}"
        digest = hashlib.sha1(paths.encode()).hexdigest()[:8]
        stem = os.path.splitext(os.path.basename(self.json_file))[0]
        return f"coco_{stem}_{digest}"

    def __str__(self) -> str:
        return f"{self.role}={self.json_file}:{self.image_root}"


def parse_dataset_spec(text: str) -> DatasetSpec:
    """
    Parse ``ROLE=PATH.json:IMAGE_DIR`` (ROLE one of :data:`DATASET_ROLES`). The image folder
    follows the first ``.json:`` so that either path may contain ``:`` or ``=``. Raises
    ``ValueError`` for a malformed spec and ``FileNotFoundError`` for a missing file or folder.
    """
    role, sep, paths = text.partition("=")
    index = paths.lower().find(".json:")
    if not sep or index < 0:
        raise ValueError(f"Dataset '{text}' must have the form {SPEC_FORM}.")
    if role not in DATASET_ROLES:
        raise ValueError(
            f"Dataset '{text}': the role must be one of {', '.join(DATASET_ROLES)}, not '{role}'."
        )
    spec = DatasetSpec(role, paths[: index + len(".json")], paths[index + len(".json:") :])
    if not os.path.isfile(spec.json_file):
        raise FileNotFoundError(f"Dataset '{text}': no annotation file '{spec.json_file}'.")
    if not os.path.isdir(spec.image_root):
        raise FileNotFoundError(f"Dataset '{text}': no image folder '{spec.image_root}'.")
    return spec


def _category_names(json_file: str) -> List[str]:
    with open(json_file) as f:
        try:
            categories = json.load(f).get("categories")
        except json.JSONDecodeError as e:
            raise ValueError(f"'{json_file}' is not valid json: {e}") from e
    if not categories:
        raise ValueError(f"'{json_file}' has no 'categories': it is not a COCO detection json.")
    return [c["name"] for c in sorted(categories, key=lambda c: c["id"])]


def register_coco_dataset(spec: DatasetSpec) -> List[str]:
    """
    Register ``spec`` as the Detectron2 dataset ``spec.name`` (COCO instances, evaluated with
    ``COCOEvaluator``); returns its class names. Registering the same spec again only returns
    them.
    """
    name = spec.name
    if name in DatasetCatalog.list():
        return list(MetadataCatalog.get(name).thing_classes)
    classes = _category_names(spec.json_file)
    json_file, image_root = os.path.abspath(spec.json_file), os.path.abspath(spec.image_root)
    register_coco_instances(name, {}, json_file, image_root)
    MetadataCatalog.get(name).set(thing_classes=classes)
    logger.info(f"Registered dataset '{name}' ({spec}): {len(classes)} classes.")
    return classes
