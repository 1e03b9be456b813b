"""
``--source mmdet``: mmdetection checkpoints (``{"meta", "state_dict"}``). One source for all
three detectors: each detector's converter module registers the key that tells its
mmdetection head apart (:func:`register_mmdet_detector`), and :func:`convert_mmdet` dispatches.
"""

from typing import Any, Callable, Dict, Mapping

from torch import Tensor

from .sources import ConvertedCheckpoint, find_state_dict, register_in, register_source

__all__ = ["MMDET_DETECTORS", "convert_mmdet", "register_mmdet_detector"]

MmdetConverter = Callable[[Dict[str, Tensor]], ConvertedCheckpoint]

# a key prefix only this detector's mmdetection head has -> its converter
MMDET_DETECTORS: Dict[str, MmdetConverter] = {}


def register_mmdet_detector(head_key_prefix: str) -> Callable[[MmdetConverter], MmdetConverter]:
    return register_in(MMDET_DETECTORS, head_key_prefix, "key prefix")


@register_source("mmdet")
def convert_mmdet(checkpoint: Mapping[str, Any]) -> ConvertedCheckpoint:
    state_dict = find_state_dict(checkpoint, ["state_dict"], source="mmdetection")
    for prefix, converter in MMDET_DETECTORS.items():
        if any(k.startswith(prefix) for k in state_dict):
            return converter(state_dict)
    heads = sorted({".".join(k.split(".")[:2]) for k in state_dict if k.startswith("bbox_head")})
    raise ValueError(
        "not an mmdetection checkpoint of a detector this project converts (CenterNet, "
        f"CornerNet, FCOS): its head has {heads or 'no bbox_head keys'}; expected one of "
        f"{sorted(MMDET_DETECTORS)}"
    )
