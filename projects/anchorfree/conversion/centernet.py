"""
``--source centernet``: xingyizhou/CenterNet's released models (``{"epoch", "state_dict"}``,
keys optionally prefixed ``module.``). One source for its three networks: each network's
converter module registers a key prefix only its checkpoints have
(:func:`register_centernet_network`), and :func:`convert_centernet` dispatches.
"""

import re
from typing import Any, Callable, Dict, List, Mapping

from torch import Tensor

from .key_mapping import Rule, strip_prefix
from .sources import ConvertedCheckpoint, find_state_dict, register_in, register_source

__all__ = [
    "CENTERNET_NETWORKS",
    "centernet_single_head_rules",
    "convert_centernet",
    "register_centernet_network",
]

NetworkConverter = Callable[[Dict[str, Tensor]], ConvertedCheckpoint]

# a key prefix only this network's checkpoints have -> its converter
CENTERNET_NETWORKS: Dict[str, NetworkConverter] = {}


def register_centernet_network(key_prefix: str) -> Callable[[NetworkConverter], NetworkConverter]:
    return register_in(CENTERNET_NETWORKS, key_prefix, "key prefix")


# The heads of the one-output networks (DLASeg, ResNet-DCN) in the original and mmdetection.
CENTERNET_BRANCHES = {"hm": "heatmap", "wh": "wh", "reg": "offset"}
MMDET_BRANCHES = {"heatmap_head": "heatmap", "wh_head": "wh", "offset_head": "offset"}


def centernet_single_head_rules(
    source: str = "", branches: Mapping[str, str] = CENTERNET_BRANCHES
) -> List[Rule]:
    """The heads of a one-output network: each branch ``source + name`` (``conv 3x3
    (head_conv, bias) -> ReLU -> conv 1x1``, so ``.0`` and ``.2``; ``branches``: name -> ours)
    -> that branch of :class:`~anchorfree.centernet.head.CenterNetHead` for its one input."""
    return [
        Rule(rf"{re.escape(source + name)}\.([02])\.(weight|bias)", rf"head.{ours}.0.\1.\2")
        for name, ours in branches.items()
    ]


@register_source("centernet")
def convert_centernet(checkpoint: Mapping[str, Any]) -> ConvertedCheckpoint:
    # The original's load_model strips the "module." that DataParallel training saved.
    state_dict = strip_prefix(
        find_state_dict(checkpoint, ["state_dict"], source="CenterNet"), "module."
    )
    for prefix, converter in CENTERNET_NETWORKS.items():
        if any(k.startswith(prefix) for k in state_dict):
            return converter(state_dict)
    roots = sorted({k.split(".")[0] for k in state_dict})
    raise ValueError(
        f"not a CenterNet checkpoint of a network this project converts: its top-level keys "
        f"are {roots[:20]}; expected one of {sorted(CENTERNET_NETWORKS)}"
    )
