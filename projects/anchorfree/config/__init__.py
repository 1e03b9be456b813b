from .loading import ConfigKind, config_kind, get_anchorfree_cfg, load_config

__all__ = ["ConfigKind", "config_kind", "get_anchorfree_cfg", "load_config"]
