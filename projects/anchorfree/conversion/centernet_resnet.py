"""
CenterNet on a ResNet with the upsampling neck, from two sources:

* ``--source centernet``: xingyizhou/CenterNet's ``ctdet_coco_resdcn18.pth`` and
  ``ctdet_coco_resdcn101.pth`` (``src/lib/models/networks/resnet_dcn.py``, ``PoseResNet``):
  torchvision's ResNet (``conv1``, ``bn1``, ``layer1..4``), ``deconv_layers`` (three times
  ``DCN 3x3`` with bias, ``BN``, ``ReLU``, ``ConvTranspose2d 4x4``, ``BN``, ``ReLU``: indices
  ``6s + 0, 1, 3, 4`` of stage ``s`` hold tensors), heads ``hm``/``wh``/``reg`` (``conv 3x3``,
  ``ReLU``, ``conv 1x1``).
* ``--source mmdet``: mmdetection's ``centernet_resnet18_dcnv2_140e_coco`` and
  ``centernet_resnet18_140e_coco``: the same ResNet under ``backbone.``,
  ``neck.deconv_layers`` of mmcv ``ConvModule`` s (``conv``, ``bn``; the 3x3 ones at even
  indices ``2s``, the transposed convs at ``2s + 1``; no conv bias before a BN),
  ``bbox_head.heatmap_head``/``wh_head``/``offset_head``.

Both map one to one onto ``UpsamplingNeck`` (``backbone.bottom_up`` = Detectron2's ResNet,
``backbone.stages.<s>.{0,1,3,4}``) and ``CenterNetHead`` (``head.heatmap|wh|offset.0``). The
DCN's offset/mask conv (``conv_offset_mask`` in the original, ``conv_offset`` in mmcv's
``ModulatedDeformConv2dPack``) has 27 channels split the same way in both and in
``ModulatedDeformConv3x3`` (``offset_mask``): the first 18 the interleaved (row, column)
offsets of the 9 taps, the last 9 the modulation logits. No tensor needs changing; the
conventions that differ (input normalization, the DCN bias) are the target configs'.
"""

import re
from typing import Dict, List

from torch import Tensor

from .centernet import MMDET_BRANCHES, centernet_single_head_rules, register_centernet_network
from .key_mapping import BN_SUFFIX, Rule, rename_keys, resnet_rules
from .mmdet import register_mmdet_detector
from .sources import ConvertedCheckpoint

__all__ = ["convert_centernet_resnet", "convert_mmdet_centernet_resnet", "resnet_depth"]

# Blocks of torchvision's layer3 -> ResNet depth, for the depths each source released.
CENTERNET_DEPTHS = {2: 18, 23: 101}
MMDET_DEPTHS = {2: 18}

CENTERNET_CONFIGS = {
    18: "configs/CenterNet/centernet_R_18_140e.py",
    101: "configs/CenterNet/centernet_R_101_dcn_140e.py",
}
MMDET_CONFIGS = {
    True: "configs/CenterNet/centernet_R_18_dcn_140e_mmdet.py",
    False: "configs/CenterNet/centernet_R_18_140e_mmdet.py",
}

# The original's head names -> CenterNetHead's branches.

NECK_STAGES = 3
TARGET_NECK = "backbone.stages"


def resnet_depth(
    state_dict: Dict[str, Tensor], layer3: str, depths: Dict[int, int], *, source: str
) -> int:
    """The depth of the torchvision-style ResNet in ``state_dict``, told by the number of
    blocks under ``layer3`` (the key prefix of its third stage, ending in ``.``): one of
    ``depths`` (blocks -> depth); otherwise a ``ValueError`` saying how many it found."""
    pattern = re.compile(re.escape(layer3) + r"(\d+)\.")
    blocks = {int(m[1]) for m in map(pattern.match, state_dict) if m is not None}
    if len(blocks) not in depths:
        known = ", ".join(f"ResNet-{d} ({b} blocks)" for b, d in depths.items())
        raise ValueError(
            f"this {source} checkpoint's ResNet has {len(blocks)} blocks in {layer3[:-1]}; the "
            f"released models this converter knows are {known}"
        )
    return depths[len(blocks)]


def centernet_resnet_rules() -> List[Rule]:
    rules = resnet_rules("", "backbone.bottom_up.") + [
        Rule(r"fc\.(weight|bias)", None, reason="torchvision's ImageNet classifier")
    ]
    for s in range(NECK_STAGES):
        conv, norm, up, up_norm = (rf"deconv_layers\.{6 * s + j}\." for j in (0, 1, 3, 4))
        target = f"{TARGET_NECK}.{s}"
        rules += [
            Rule(conv + r"(weight|bias)", rf"{target}.0.\1"),
            Rule(conv + r"conv_offset_mask\.(weight|bias)", rf"{target}.0.offset_mask.\1"),
            Rule(norm + BN_SUFFIX, rf"{target}.1.\1"),
            Rule(up + "weight", f"{target}.3.weight"),
            Rule(up_norm + BN_SUFFIX, rf"{target}.4.\1"),
        ]
    return rules + centernet_single_head_rules()


@register_centernet_network("deconv_layers.")
def convert_centernet_resnet(state_dict: Dict[str, Tensor]) -> ConvertedCheckpoint:
    if not any(".conv_offset_mask." in k for k in state_dict):
        # msra_resnet.py's PoseResNet (--arch res) shares the name, with deconvolutions only.
        raise ValueError(
            "this CenterNet checkpoint has deconv_layers but no DCN (conv_offset_mask): a "
            "ResNet without DCN (msra_resnet.py, --arch res_*), of which no COCO model was "
            "released; this converter takes resnet_dcn.py's (--arch resdcn_*)"
        )
    depth = resnet_depth(state_dict, "layer3.", CENTERNET_DEPTHS, source="CenterNet")
    return ConvertedCheckpoint(
        model=rename_keys(state_dict, centernet_resnet_rules(), source="CenterNet ResNet-DCN"),
        config=CENTERNET_CONFIGS[depth],
        architecture=f"CenterNet ResNet-{depth}-DCN",
        notes=[
            "Input as the original's: BGR, normalized with CenterNet's COCO mean and std "
            "(the config sets them).",
            "The original tests at the image's own resolution centred on a (size | 31) + 1 "
            "canvas (--keep_res); the config tests with the longer side at 512, padded right "
            "and bottom.",
        ],
    )


def mmdet_centernet_resnet_rules(deformable: bool) -> List[Rule]:
    rules = resnet_rules(r"backbone\.", "backbone.bottom_up.")
    for s in range(NECK_STAGES):
        conv, up = (rf"neck\.deconv_layers\.{2 * s + j}\." for j in (0, 1))
        target = f"{TARGET_NECK}.{s}"
        if deformable:
            rules.append(
                Rule(conv + r"conv\.conv_offset\.(weight|bias)", rf"{target}.0.offset_mask.\1")
            )
        rules += [
            Rule(conv + r"conv\.weight", f"{target}.0.weight"),
            Rule(conv + r"bn\." + BN_SUFFIX, rf"{target}.1.\1"),
            Rule(up + r"conv\.weight", f"{target}.3.weight"),
            Rule(up + r"bn\." + BN_SUFFIX, rf"{target}.4.\1"),
        ]
    return rules + centernet_single_head_rules("bbox_head.", MMDET_BRANCHES)


@register_mmdet_detector("bbox_head.heatmap_head")
def convert_mmdet_centernet_resnet(state_dict: Dict[str, Tensor]) -> ConvertedCheckpoint:
    resnet_depth(state_dict, "backbone.layer3.", MMDET_DEPTHS, source="mmdetection CenterNet")
    deformable = any(".conv_offset." in k for k in state_dict if k.startswith("neck."))
    return ConvertedCheckpoint(
        model=rename_keys(
            state_dict,
            mmdet_centernet_resnet_rules(deformable),
            source="mmdetection CenterNet ResNet-18",
        ),
        config=MMDET_CONFIGS[deformable],
        architecture="CenterNet ResNet-18" + ("-DCN" if deformable else "") + " (mmdetection)",
        notes=[
            "Input as mmdetection's: RGB, normalized with torchvision's ImageNet mean and std "
            "(the config sets them).",
            "mmdetection tests at the image's own size centred on a (size | 31) + 1 canvas; "
            "the config tests with the longer side at 512, padded right and bottom.",
        ],
    )
