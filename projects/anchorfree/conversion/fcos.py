"""
FCOS checkpoints of tianzhi0549/FCOS (``--source fcos-tianzhi``), AdelaiDet
(``--source fcos-adelaidet``) and mmdetection (``--source mmdet``, dispatched on
``bbox_head.conv_centerness``), into :class:`~anchorfree.fcos.AnchorFreeFCOS` on a Detectron2
``ResNet`` + ``FPN`` (P3-P7, P6/P7 from P5 in all three).

The three heads are the same network: two towers of 4 x (conv 3x3, GroupNorm(32), ReLU), a
3x3 conv each for the class logits, the ``(l, t, r, b)`` distances and centerness, and a
learnable scale per level. What the tensors do not tell (whether the head is the FCOS paper's
or the improved one, the box-quality target of AdelaiDet's ``*_iou`` models) is for the user
to say with ``--config-file``; the converter names the usual config of the backbone it finds
(ResNet-50/101, ResNeXt-101 32x8d/64x4d: depth from the blocks of res4, groups from the
shape of res2's 3x3 conv) and says so in its notes.

The deformable (``dcnv2``) models are refused: their heads' last tower convs are deformable,
which :class:`~anchorfree.fcos.AnchorFreeFCOSHead` has not. Their backbones alone would map
onto Detectron2's ``DeformBottleneckBlock`` (``conv2.offset`` -> ``conv2_offset``, the same
18 offset + 9 mask channels), which runs on CUDA with the project's stand-in for
``detectron2._C``; on CPU Detectron2 v0.6's deformable conv raises before reaching it.
"""

import logging
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from .key_mapping import Rule, rename_keys, resnet_rules, strip_prefix
from .mmdet import register_mmdet_detector
from .sources import ConvertedCheckpoint, find_state_dict, register_source

__all__ = ["convert_fcos_adelaidet", "convert_fcos_mmdet", "convert_fcos_tianzhi"]

logger = logging.getLogger(__name__)

# Detectron2's FrozenBatchNorm2d divides by sqrt(running_var + eps); maskrcnn-benchmark's by
# sqrt(running_var).
DETECTRON2_FROZEN_BN_EPS = 1e-5

# (depth, groups, width per group) -> the backbone's name in the config file names
BACKBONES = {
    (50, 1, 64): "R_50",
    (101, 1, 64): "R_101",
    (101, 32, 8): "X_101_32x8d",
    (101, 64, 4): "X_101_64x4d",
}
RES4_BLOCKS_TO_DEPTH = {6: 50, 23: 101}

_HEAD_OUTPUTS = {"cls_logits": "cls_score", "bbox_pred": "bbox_pred"}

_DEFORMABLE_REFUSAL = (
    "{source} checkpoint with deformable convolutions (keys such as {key}): the dcnv2 models "
    "have a deformable last conv in each head tower, which AnchorFreeFCOSHead does not "
    "implement"
)


def _head_rules(
    source: str,
    towers: Dict[str, str],
    outputs: Dict[str, str],
    scale_transform: Optional[Callable[[Tensor], Tensor]] = None,
) -> List[Rule]:
    """Rules for a head under ``source`` (a regex prefix) whose towers are ``nn.Sequential``
    of (conv, norm, ReLU) as ours (``towers``: source tower name -> ours), whose output
    convs are ``outputs`` (source name -> ours) and whose per-level scales are
    ``scales.N.scale`` (through ``scale_transform`` when given)."""
    rules = [
        Rule(rf"{source}{name}\.(\d+)\.(weight|bias)", rf"head.{ours}.\1.\2")
        for name, ours in towers.items()
    ]
    rules += [
        Rule(rf"{source}{name}\.(weight|bias)", rf"head.{ours}.\1")
        for name, ours in outputs.items()
    ]
    rules.append(
        Rule(rf"{source}scales\.(\d)\.scale", r"head.scales.\1.scale", transform=scale_transform)
    )
    return rules


def _backbone_name(model: Mapping[str, Tensor], source: str) -> Tuple[str, str, str]:
    """``(name in config files, description, schedule)`` of the converted ResNet under
    ``backbone.bottom_up.``, from its res4 blocks and res2's 3x3 conv; the schedule of the
    released models on it, which their configs are named by (1x for R-50, 2x otherwise)."""
    res4 = {int(m[1]) for k in model if (m := re.match(r"backbone\.bottom_up\.res4\.(\d+)\.", k))}
    conv2 = model.get("backbone.bottom_up.res2.0.conv2.weight")
    if not res4 or conv2 is None:
        raise ValueError(f"not a {source} FCOS checkpoint on a bottleneck ResNet")
    depth = RES4_BLOCKS_TO_DEPTH.get(len(res4))
    groups = conv2.shape[0] // conv2.shape[1]
    key = (depth, groups, conv2.shape[0] // groups)
    if key not in BACKBONES:
        raise ValueError(
            f"{source} FCOS checkpoint on a ResNet with {len(res4)} res4 blocks and a res2 "
            f"3x3 conv of shape {tuple(conv2.shape)}: not one of the backbones this project "
            f"has configs for ({', '.join(BACKBONES.values())})"
        )
    name = BACKBONES[key]
    schedule = "1x" if name == "R_50" else "2x"
    if groups == 1:
        return name, f"ResNet-{depth}", schedule
    return name, f"ResNeXt-{depth} {groups}x{key[2]}d", schedule


def _refuse_deformable(state_dict: Mapping[str, Tensor], source: str) -> None:
    deformable = [k for k in state_dict if re.search(r"\.(offset|conv2_offset|conv_offset)\.", k)]
    if deformable:
        raise ValueError(_DEFORMABLE_REFUSAL.format(source=source, key=deformable[:3]))


def _log_other_entries(checkpoint: Mapping[str, Any], model_key: str, source: str) -> None:
    others = sorted(str(k) for k in checkpoint if k != model_key)
    if others:
        logger.info(f"Not converted ({source} training state, not weights): {', '.join(others)}")


# ------------------------------------------------------------------------------------------
# tianzhi0549/FCOS (maskrcnn-benchmark)
# ------------------------------------------------------------------------------------------

TIANZHI_RULES = (
    resnet_rules(
        r"backbone\.body\.",
        "backbone.bottom_up.",
        stem_conv="stem.conv1",
        stem_norm="stem.bn1",
        keep_num_batches_tracked=False,
    )
    + [
        # fpn_inner2..4 / fpn_layer2..4 are numbered by ResNet stage from C2 = 1 (C2 has
        # none in FCOS); Detectron2 names them by log2 of the stride: 3..5.
        Rule(
            r"backbone\.fpn\.fpn_inner([2-4])\.(weight|bias)",
            lambda m: f"backbone.fpn_lateral{int(m[1]) + 1}.{m[2]}",
        ),
        Rule(
            r"backbone\.fpn\.fpn_layer([2-4])\.(weight|bias)",
            lambda m: f"backbone.fpn_output{int(m[1]) + 1}.{m[2]}",
        ),
        Rule(r"backbone\.fpn\.top_blocks\.(p6|p7)\.(weight|bias)", r"backbone.top_block.\1.\2"),
    ]
    + _head_rules(
        r"rpn\.head\.",
        {"cls_tower": "cls_subnet", "bbox_tower": "bbox_subnet"},
        {**_HEAD_OUTPUTS, "centerness": "ctrness"},
    )
)


def _fold_frozen_bn_eps(model: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """maskrcnn-benchmark's frozen BatchNorm as Detectron2's: the same ``running_var`` less
    Detectron2's eps, so that ``running_var + eps`` is the original's variance."""
    return {
        k: v - DETECTRON2_FROZEN_BN_EPS if k.endswith(".norm.running_var") else v
        for k, v in model.items()
    }


@register_source("fcos-tianzhi")
def convert_fcos_tianzhi(checkpoint: Mapping[str, Any]) -> ConvertedCheckpoint:
    """tianzhi0549/FCOS's released models (``{"model", "optimizer", "scheduler",
    "iteration"}``, keys ``module.backbone.body.*``, ``module.backbone.fpn.*``,
    ``module.rpn.head.*``)."""
    _log_other_entries(checkpoint, "model", "tianzhi0549/FCOS")
    state_dict = strip_prefix(
        find_state_dict(checkpoint, ["model"], source="tianzhi0549/FCOS"), "module."
    )
    _refuse_deformable(state_dict, "tianzhi0549/FCOS")
    model = _fold_frozen_bn_eps(rename_keys(state_dict, TIANZHI_RULES, source="tianzhi0549/FCOS"))
    name, backbone, schedule = _backbone_name(model, "tianzhi0549/FCOS")
    return ConvertedCheckpoint(
        model=model,
        config=f"configs/FCOS/fcos_imprv_{name}_FPN_{schedule}_tianzhi.py",
        architecture=f"tianzhi0549/FCOS FCOS on {backbone}-FPN",
        notes=[
            "The weights do not tell the improved FCOS (FCOS_imprv_*: centerness on the box "
            "branch, relu box output in strides) from the paper's (FCOS_*: centerness on the "
            "classification branch, exp output in pixels): the config named is the improved "
            f"one; for FCOS_{name}_FPN_{schedule}.pth use --config-file "
            f"configs/FCOS/fcos_{name}_FPN_{schedule}_tianzhi.py.",
            "Frozen BatchNorm: running_var less Detectron2's eps 1e-5 (maskrcnn-benchmark "
            "adds none).",
            "Head: GroupNorm(32) towers; P6/P7 from P5 (USE_C5 False); 80 sigmoid classes in "
            "Detectron2's contiguous COCO order (maskrcnn-benchmark's labels 1-80 less 1).",
            "The config reproduces its test pipeline (BGR, mean 102.98/115.95/122.77, std 1) "
            "and conventions (clip to size - 1 and NMS areas (w + 1)(h + 1), IoU loss "
            "(I + 1)/(U + 1), ambiguous points by (w + 1)(h + 1)).",
        ],
    )


# ------------------------------------------------------------------------------------------
# AdelaiDet (Detectron2)
# ------------------------------------------------------------------------------------------

ADELAIDET_RULES = [
    Rule(r"backbone\.(bottom_up\.(stem|res[2-5])\..*)", r"backbone.\1"),
    Rule(r"backbone\.(fpn_(lateral|output)[3-5]\.(weight|bias))", r"backbone.\1"),
    Rule(r"backbone\.top_block\.(p6|p7)\.(weight|bias)", r"backbone.top_block.\1.\2"),
    Rule(
        r"pixel_(mean|std)",
        None,
        reason="the input normalization is the config's (model.pixel_mean/pixel_std)",
    ),
] + _head_rules(
    r"proposal_generator\.fcos_head\.",
    {"cls_tower": "cls_subnet", "bbox_tower": "bbox_subnet"},
    {**_HEAD_OUTPUTS, "ctrness": "ctrness"},
)


@register_source("fcos-adelaidet")
def convert_fcos_adelaidet(checkpoint: Mapping[str, Any]) -> ConvertedCheckpoint:
    """AdelaiDet's released FCOS models (Detectron2 checkpoints ``{"model", ...}``, keys
    ``backbone.bottom_up.*``, ``backbone.fpn_*``, ``backbone.top_block.*``,
    ``proposal_generator.fcos_head.*``)."""
    _log_other_entries(checkpoint, "model", "AdelaiDet")
    state_dict = find_state_dict(checkpoint, ["model"], source="AdelaiDet")
    _refuse_deformable(state_dict, "AdelaiDet")
    shared = [k for k in state_dict if k.startswith("proposal_generator.fcos_head.share_tower.")]
    if shared:
        raise ValueError(
            f"AdelaiDet checkpoint with a tower shared by both branches ({shared[:2]}, "
            "NUM_SHARE_CONVS > 0: the FCOS_RT *shtw models), which AnchorFreeFCOSHead has not"
        )
    model = rename_keys(state_dict, ADELAIDET_RULES, source="AdelaiDet")
    name, backbone, schedule = _backbone_name(model, "AdelaiDet")
    return ConvertedCheckpoint(
        model=model,
        config=f"configs/FCOS/fcos_{name}_FPN_{schedule}_adelaidet.py",
        architecture=f"AdelaiDet FCOS on {backbone}-FPN",
        notes=[
            "Head: GroupNorm(32) towers, centerness on the box branch, relu box output in "
            "strides; P6/P7 from P5 (TOP_LEVELS 2 on 'p5').",
            "AdelaiDet's *_iou models (BOX_QUALITY iou) have the same tensors and the same "
            "inference; only their training target of the quality branch differs.",
            "The config reproduces its test pipeline (Detectron2's) and conventions (NMS "
            "before clipping, IoU loss (I + 1)/(U + 1)).",
        ],
    )


# ------------------------------------------------------------------------------------------
# mmdetection
# ------------------------------------------------------------------------------------------


def _mmdet_tower_key(match: re.Match) -> str:
    """``bbox_head.{cls,reg}_convs.I.{conv,gn}.*`` -> our tower's Sequential index (conv 3I,
    norm 3I + 1)."""
    tower = {"cls": "cls_subnet", "reg": "bbox_subnet"}[match[1]]
    index = 3 * int(match[2]) + (0 if match[3] == "conv" else 1)
    return f"head.{tower}.{index}.{match[4]}"


MMDET_RULES = (
    resnet_rules(r"backbone\.", "backbone.bottom_up.", keep_num_batches_tracked=False)
    + [
        Rule(
            r"neck\.lateral_convs\.([0-2])\.conv\.(weight|bias)",
            lambda m: f"backbone.fpn_lateral{int(m[1]) + 3}.{m[2]}",
        ),
        Rule(
            r"neck\.fpn_convs\.([0-2])\.conv\.(weight|bias)",
            lambda m: f"backbone.fpn_output{int(m[1]) + 3}.{m[2]}",
        ),
        # The extra convs on P5: fpn_convs.3 makes P6, fpn_convs.4 P7 (from relu(P6)).
        Rule(
            r"neck\.fpn_convs\.([34])\.conv\.(weight|bias)",
            lambda m: f"backbone.top_block.p{int(m[1]) + 3}.{m[2]}",
        ),
        Rule(r"bbox_head\.(cls|reg)_convs\.(\d+)\.(conv|gn)\.(weight|bias)", _mmdet_tower_key),
    ]
    + _head_rules(
        r"bbox_head\.",
        {},
        {"conv_cls": "cls_score", "conv_reg": "bbox_pred", "conv_centerness": "ctrness"},
        # mmcv's Scale holds a 0-d parameter; ours a 1-element one.
        scale_transform=lambda t: t.reshape(1),
    )
)


def _zero_missing_tower_biases(model: Dict[str, Tensor]) -> List[str]:
    """mmdetection's tower convs have no bias when followed by a norm layer (``conv_bias=
    'auto'``); ours always have one: a zero bias computes the same. Returns the keys added."""
    added = []
    for key in list(model):
        match = re.fullmatch(r"(head\.(cls|bbox)_subnet\.\d+)\.weight", key)
        if match and model[key].dim() == 4 and f"{match[1]}.bias" not in model:
            model[f"{match[1]}.bias"] = torch.zeros(model[key].shape[0], dtype=model[key].dtype)
            added.append(f"{match[1]}.bias")
    return added


@register_mmdet_detector("bbox_head.conv_centerness")
def convert_fcos_mmdet(state_dict: Dict[str, Tensor]) -> ConvertedCheckpoint:
    """mmdetection's FCOS (``FCOSHead`` with ``conv_cls``/``conv_reg``/``conv_centerness``,
    ``ResNet`` caffe style, ``FPN`` with two extra convs on its P5 output)."""
    _refuse_deformable(state_dict, "mmdetection")
    model = rename_keys(state_dict, MMDET_RULES, source="mmdetection")
    added = _zero_missing_tower_biases(model)
    name, backbone, schedule = _backbone_name(model, "mmdetection")
    if name not in ("R_50", "R_101"):
        raise ValueError(
            f"mmdetection FCOS on {backbone}: its ResNeXt models take RGB input normalized "
            "by ImageNet's mean and std (pytorch style), for which this project has no FCOS "
            "config; the caffe-style ResNet-50/101 models convert"
        )
    notes = [
        "The weights do not tell mmdetection's FCOS-paper head (centerness on the "
        "classification branch, exp output) from its center-normbbox-centeronreg-giou one: "
        "the config named is the paper's; for the other use --config-file "
        "configs/FCOS/fcos_imprv_R_50_FPN_1x_mmdet.py.",
        "Caffe-style ResNet (stride in the 1x1 convs), BGR input, mean 102.98/115.95/122.77, "
        "std 1; BatchNorm counters dropped (frozen).",
    ]
    if added:
        notes.append(
            f"mmdetection's tower convs have no bias (GroupNorm follows): {len(added)} zero "
            "biases added, which compute the same."
        )
    return ConvertedCheckpoint(
        model=model,
        config=f"configs/FCOS/fcos_{name}_FPN_{schedule}_mmdet.py",
        architecture=f"mmdetection FCOS on {backbone}-FPN",
        notes=notes,
    )
