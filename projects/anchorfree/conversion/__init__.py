"""
Converters of the original authors' (and mmdetection's) released checkpoints into this
project's layout: ``tools/convert_checkpoint.py --source SOURCE INPUT OUTPUT``. Each source
lives in its detector's module and registers itself in ``SOURCES``; every converter accounts
for each key of the source (:mod:`.key_mapping`), and says which config its weights fit.
"""

from . import centernet, mmdet  # noqa: F401  (register --source centernet, mmdet)
from .centernet_dla import convert_centernet_dla34  # noqa: F401  (registers CenterNet DLA-34)
from .centernet_resnet import convert_centernet_resnet  # noqa: F401  (registers ResNet-DCN)
from .fcos import convert_fcos_tianzhi  # noqa: F401  (registers the FCOS sources)
from .hourglass import convert_cornernet  # noqa: F401  (registers the Hourglass-104 sources)
from .key_mapping import Rule, UnknownKeysError, rename_keys, resnet_rules, strip_prefix
from .sources import (
    SOURCES,
    ConvertedCheckpoint,
    IncompatibleWeightsError,
    check_against_model,
    convert_checkpoint,
    find_state_dict,
    read_checkpoint,
    register_source,
    save_converted,
)

__all__ = [
    "SOURCES",
    "ConvertedCheckpoint",
    "IncompatibleWeightsError",
    "Rule",
    "UnknownKeysError",
    "check_against_model",
    "convert_checkpoint",
    "find_state_dict",
    "read_checkpoint",
    "register_source",
    "rename_keys",
    "resnet_rules",
    "save_converted",
    "strip_prefix",
]
