"""
Load a LazyConfig (``.py``), the project's one config system, with strict overrides.

Overrides ``a.b=value`` must name an existing key (or an argument that the LazyCall it belongs
to accepts): a mistyped key fails at start-up with the key and close matches in the message,
rather than being silently added. A ``.yaml`` file is refused with a message naming the ``.py``
config to use instead (the yacs twins were removed). The ``datasets`` section (the user's own
COCO data, :mod:`anchorfree.config.datasets`) is resolved after the overrides.
"""

import difflib
import inspect
import os
from typing import Iterable, List

from omegaconf import DictConfig, OmegaConf

from detectron2.config import LazyConfig
from detectron2.utils.registry import locate

from .datasets import apply_datasets, is_datasets_key

__all__ = ["YacsConfigRemovedError", "check_config_file", "load_config"]

# Sentinel for OmegaConf.select, to tell a missing key from a key set to None.
_MISSING = object()


class YacsConfigRemovedError(ValueError):
    """A ``.yaml`` (yacs) config was given: this project's configs are LazyConfigs only."""


def check_config_file(path: str) -> None:
    """Raise :class:`YacsConfigRemovedError` for a ``.yaml``, ``ValueError`` for any other
    non-``.py`` file and ``FileNotFoundError`` for a missing one."""
    stem, ext = os.path.splitext(path)
    ext = ext.lower()
    if ext in (".yaml", ".yml"):
        twin = stem + ".py"
        hint = (
            f" Use the LazyConfig '{twin}' instead (same model, data and schedule)."
            if os.path.isfile(twin)
            else " Use one of the LazyConfig .py files under configs/."
        )
        raise YacsConfigRemovedError(
            f"Config file '{path}' is a yacs .yaml config: the yacs configs were removed, "
            f"train_net.py and tools/demo.py take LazyConfig .py files.{hint} Overrides are "
            "then key=value, e.g. train.init_checkpoint=output/model_final.pth."
        )
    if ext != ".py":
        raise ValueError(
            f"Config file '{path}' must be a LazyConfig .py file (the .yaml yacs configs were "
            "removed)."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file '{path}' does not exist.")


def _all_keys(cfg: DictConfig, prefix: str = "") -> Iterable[str]:
    for key, value in cfg.items_ex(resolve=False):
        full = f"{prefix}{key}"
        yield full
        if isinstance(value, DictConfig):
            yield from _all_keys(value, full + ".")


def _unknown_key_error(key: str, known: Iterable[str], context: str) -> KeyError:
    close = difflib.get_close_matches(key, list(known), n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return KeyError(f"{context}: no key '{key}' in the config.{hint}")


def _is_call_argument(cfg: DictConfig, key: str) -> bool:
    """Whether ``key`` names an argument that the LazyCall it belongs to accepts, though the
    config leaves it at its default (e.g. ``model.test_topk_candidates``)."""
    parent_key, _, name = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key, default=None) if parent_key else cfg
    if not isinstance(parent, DictConfig) or "_target_" not in parent:
        return False
    target = parent._target_
    if isinstance(target, str):
        target = locate(target)
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _check_override_keys(cfg: DictConfig, overrides: List[str]) -> None:
    for override in overrides:
        if "=" not in override:
            raise ValueError(f"Config override '{override}' must have the form key=value.")
        key = override.split("=", 1)[0].strip()
        missing = OmegaConf.select(cfg, key, default=_MISSING) is _MISSING
        if missing and not is_datasets_key(key) and not _is_call_argument(cfg, key):
            raise _unknown_key_error(key, _all_keys(cfg), f"Config override '{override}'")


def load_config(path: str, overrides: List[str] = ()) -> DictConfig:
    """Load the LazyConfig ``path`` and apply ``key=value`` overrides. Raises
    ``FileNotFoundError``/``KeyError``/``ValueError`` with a clear message on a missing file, a
    ``.yaml`` file, an unknown key or a malformed override, and resolves the ``datasets``
    section (which registers the datasets it names)."""
    check_config_file(path)
    overrides = list(overrides)
    cfg = LazyConfig.load(path)
    _check_override_keys(cfg, overrides)
    cfg = LazyConfig.apply_overrides(cfg, overrides)
    apply_datasets(cfg, overrides)
    return cfg
