"""
The ``datasets`` section of a LazyConfig: the user's own COCO-format data, with no code.

    datasets = dict(train="data/train.json:data/images", test="data/val.json:data/images")

or, from the command line, ``train_net.py --dataset train=PATH.json:IMAGE_DIR`` (the override
``datasets.train=PATH.json:IMAGE_DIR``; see :func:`dataset_override`). :func:`apply_datasets`,
run by ``load_config`` after the overrides, registers each dataset (in every process that loads
the config) and points the config at it: ``train`` replaces ``dataloader.train.dataset.names``,
``test`` replaces ``dataloader.test.dataset.names`` and the evaluator's ``dataset_name``.

The class count comes from the json: every ``num_classes`` that ``model`` sets (not the ones
that interpolate another) is set to the number of categories, and the change is logged. It is
set rather than refused because where a detector keeps its class count differs between
detectors (``model.num_classes``, a head's, a target generator's), and the data is the only
source that cannot be wrong about it. An explicit ``...num_classes=N`` override that disagrees
with the data is refused, as are train and test sets with different categories.
"""

import logging
from typing import Dict, List, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf

from anchorfree.data.coco_datasets import (
    DATASET_ROLES,
    DatasetSpec,
    parse_dataset_spec,
    register_coco_dataset,
)

from detectron2.data import MetadataCatalog

__all__ = [
    "DATASETS_KEY",
    "apply_datasets",
    "dataset_override",
    "is_datasets_key",
    "log_datasets",
    "test_dataset_names",
]

logger = logging.getLogger(__name__)

DATASETS_KEY = "datasets"


def is_datasets_key(key: str) -> bool:
    """Whether an override key names a role of the ``datasets`` section (allowed in every
    config, with or without the section)."""
    return key in (f"{DATASETS_KEY}.{role}" for role in DATASET_ROLES)


def dataset_override(text: str) -> str:
    """The config override for the command-line form ``ROLE=PATH.json:IMAGE_DIR``, quoted so
    that the paths reach the config unparsed. Raises ``ValueError`` for a malformed spec."""
    spec = parse_dataset_spec(text)
    paths = f"{spec.json_file}:{spec.image_root}".replace("\\", "\\\\").replace("'", "\\'")
    return f"{DATASETS_KEY}.{spec.role}='{paths}'"


def _model_class_count_keys(model: DictConfig, prefix: str = "model") -> List[str]:
    """Keys of the ``num_classes`` values that ``model`` sets itself (not interpolations)."""
    keys = []
    for key in model.keys():
        if isinstance(model.get(key), DictConfig):
            keys += _model_class_count_keys(model.get(key), f"{prefix}.{key}")
        elif key == "num_classes" and not OmegaConf.is_interpolation(model, key):
            keys.append(f"{prefix}.{key}")
    return keys


def _overridden_values(overrides: Sequence[str]) -> Dict[str, str]:
    return dict(o.split("=", 1) for o in overrides if "=" in o)


def test_dataset_names(cfg: DictConfig) -> List[str]:
    """The names of a LazyConfig's evaluation datasets (``dataloader.test.dataset.names``, one
    name or several), as a list; empty where the config has none."""
    names = OmegaConf.select(cfg, "dataloader.test.dataset.names", default=None)
    if names is None:
        return []
    return [names] if isinstance(names, str) else list(names)


def _check_test_set_classes(cfg: DictConfig, train: DatasetSpec, classes: List[str]) -> None:
    for name in test_dataset_names(cfg):
        test_classes = MetadataCatalog.get(name).get("thing_classes")
        if test_classes is not None and list(test_classes) != classes:
            raise ValueError(
                f"The training set {train.json_file} has {len(classes)} classes, but the "
                f"config's evaluation set '{name}' has {len(test_classes)} other ones: give "
                "your evaluation set too (--dataset test=PATH.json:IMAGE_DIR)."
            )


def _set_class_count(cfg: DictConfig, classes: List[str], source: str, overrides) -> None:
    overridden = _overridden_values(overrides)
    for key in _model_class_count_keys(cfg.model):
        value = OmegaConf.select(cfg, key)
        if value == len(classes):
            continue
        if key in overridden:
            raise ValueError(
                f"The override {key}={overridden[key]} disagrees with the {len(classes)} "
                f"categories of {source}: the class count is set from the data; drop the "
                "override."
            )
        OmegaConf.update(cfg, key, len(classes))
        logger.info(f"{key}: {value} -> {len(classes)}, the number of categories in {source}.")


def apply_datasets(cfg: DictConfig, overrides: Sequence[str] = ()) -> None:
    """Resolve ``cfg.datasets`` in place of ``cfg`` as the module doc says; ``overrides`` are
    the ``key=value`` overrides already applied (to refuse a disagreeing class count). Raises
    ``ValueError``/``FileNotFoundError`` with the offending spec in the message."""
    section = cfg.get(DATASETS_KEY)
    if not section:
        return
    registered: Dict[str, Tuple[DatasetSpec, List[str]]] = {}
    for role, text in section.items():
        if role not in DATASET_ROLES:
            raise ValueError(
                f"{DATASETS_KEY}.{role}: unknown role; the roles are {', '.join(DATASET_ROLES)}."
            )
        if text:
            spec = parse_dataset_spec(f"{role}={text}")
            registered[role] = (spec, register_coco_dataset(spec))
    if "train" in registered:
        cfg.dataloader.train.dataset.names = registered["train"][0].name
    if "test" in registered:
        cfg.dataloader.test.dataset.names = registered["test"][0].name
        evaluator = cfg.dataloader.get("evaluator")
        if evaluator is not None and "dataset_name" in evaluator:
            evaluator.dataset_name = registered["test"][0].name
    if not registered:
        return
    spec, classes = registered.get("train") or registered["test"]
    if "train" in registered and "test" in registered and registered["test"][1] != classes:
        raise ValueError(
            f"The training set {spec.json_file} and the evaluation set "
            f"{registered['test'][0].json_file} have different categories "
            f"({classes} vs {registered['test'][1]})."
        )
    if "train" in registered and "test" not in registered:
        _check_test_set_classes(cfg, spec, classes)
    _set_class_count(cfg, classes, spec.json_file, overrides)


def log_datasets(cfg: DictConfig) -> None:
    """Log what the ``datasets`` section of a loaded config resolved to (for ``log.txt``: the
    config is loaded before the run's logging is set up): each dataset's files and classes,
    and the class count the model got."""
    section = cfg.get(DATASETS_KEY)
    if not section:
        return
    for role, text in section.items():
        if text:
            spec = parse_dataset_spec(f"{role}={text}")
            classes = list(MetadataCatalog.get(spec.name).thing_classes)
            logger.info(
                f"Dataset {spec} registered as '{spec.name}': {len(classes)} classes {classes}."
            )
    for key in _model_class_count_keys(cfg.model):
        logger.info(f"{key} = {OmegaConf.select(cfg, key)}: the number of categories in the json.")
