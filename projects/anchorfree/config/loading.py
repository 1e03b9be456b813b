"""
Load either of Detectron2's config systems, chosen by file extension, with strict overrides.

* ``.py``: a LazyConfig (primary). Overrides ``a.b=value`` must name an existing key.
* ``.yaml``/``.yml``: a yacs ``CfgNode`` on top of Detectron2's defaults plus this project's
  keys (:func:`get_anchorfree_cfg`). yacs itself rejects unknown keys.

Either way a mistyped key fails at start-up with the key and close matches in the message,
rather than being silently added (LazyConfig) or failing deep inside training.
"""
import difflib
import enum
import inspect
import os
from typing import Iterable, List, Union

from detectron2.config import CfgNode, LazyConfig, get_cfg
from detectron2.utils.registry import locate
from omegaconf import DictConfig, OmegaConf

__all__ = ["ConfigKind", "config_kind", "get_anchorfree_cfg", "load_config"]

AnyConfig = Union[CfgNode, DictConfig]

# Sentinel for OmegaConf.select, to tell a missing key from a key set to None.
_MISSING = object()


class ConfigKind(enum.Enum):
    LAZY = "lazy"
    YACS = "yacs"


def config_kind(path: str) -> ConfigKind:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".py":
        return ConfigKind.LAZY
    if ext in (".yaml", ".yml"):
        return ConfigKind.YACS
    raise ValueError(
        f"Config file '{path}' must end with .py (LazyConfig) or .yaml (yacs config)."
    )


def get_anchorfree_cfg() -> CfgNode:
    """Detectron2's default yacs config with the keys of every detector in this project."""
    cfg = get_cfg()
    from anchorfree.fcos import add_fcos_config  # also registers the FCOS meta-arch and backbone
    add_fcos_config(cfg)
    from anchorfree.centernet import add_centernet_config
    add_centernet_config(cfg)
    from anchorfree.cornernet import add_cornernet_config
    add_cornernet_config(cfg)
    return cfg


def _all_keys(cfg: DictConfig, prefix: str = "") -> Iterable[str]:
    for key, value in cfg.items_ex(resolve=False):
        full = f"{prefix}{key}"
        yield full
        if isinstance(value, DictConfig):
            yield from _all_keys(value, full + ".")


def _yacs_keys(cfg: CfgNode, prefix: str = "") -> Iterable[str]:
    for key, value in cfg.items():
        yield f"{prefix}{key}"
        if isinstance(value, CfgNode):
            yield from _yacs_keys(value, f"{prefix}{key}.")


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


def _check_lazy_override_keys(cfg: DictConfig, overrides: List[str]) -> None:
    for override in overrides:
        if "=" not in override:
            raise ValueError(f"Config override '{override}' must have the form key=value.")
        key = override.split("=", 1)[0].strip()
        if OmegaConf.select(cfg, key, default=_MISSING) is _MISSING and not _is_call_argument(cfg, key):
            raise _unknown_key_error(key, _all_keys(cfg), f"Config override '{override}'")


def load_config(path: str, overrides: List[str] = ()) -> AnyConfig:
    """Load ``path`` (LazyConfig ``.py`` or yacs ``.yaml``) and apply ``key=value`` /
    ``KEY VALUE`` overrides. Raises ``FileNotFoundError``/``KeyError``/``ValueError`` with a
    clear message on a missing file, an unknown key or a malformed override."""
    kind = config_kind(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file '{path}' does not exist.")
    overrides = list(overrides)
    if kind is ConfigKind.LAZY:
        cfg = LazyConfig.load(path)
        _check_lazy_override_keys(cfg, overrides)
        return LazyConfig.apply_overrides(cfg, overrides)
    cfg = get_anchorfree_cfg()
    known = list(_yacs_keys(cfg))
    try:
        cfg.merge_from_file(path)
    except KeyError as e:  # yacs: "Non-existent config key: A.B"
        key = str(e.args[0]).rsplit(" ", 1)[-1]
        raise _unknown_key_error(key, known, f"Config file '{path}'") from e
    if len(overrides) % 2:
        raise ValueError(f"yacs overrides come in KEY VALUE pairs, got {overrides}.")
    for key in overrides[0::2]:
        if key not in known:
            raise _unknown_key_error(key, known, f"Config override '{key}'")
    cfg.merge_from_list(overrides)
    cfg.freeze()
    return cfg
