"""
Hourglass-104 checkpoints: CornerNet's (princeton-vl/CornerNet, ``--source cornernet``),
CenterNet's ``ctdet_coco_hg`` (xingyizhou/CenterNet, ``--source centernet``) and mmdetection's
CornerNet (``--source mmdet``).

The three networks are the same layer for layer as this project's
:class:`~anchorfree.modeling.backbones.hourglass.Hourglass` and heads; only the names differ.
CenterNet's ``large_hourglass.py`` is a copy of CornerNet's ``kp.py``, so one
:class:`HourglassNames` describes both, and mmdetection's ``HourglassNet`` another.

Input conventions of the weights (the configs named here set them): CornerNet and CenterNet
train on BGR images normalized by their COCO statistics; mmdetection's CornerNet on RGB images
normalized by the ImageNet statistics.
"""

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Tuple

from torch import Tensor

from .centernet import CENTERNET_BRANCHES, register_centernet_network
from .key_mapping import Rule, rename_keys, strip_prefix
from .mmdet import register_mmdet_detector
from .sources import ConvertedCheckpoint, find_state_dict, register_source

__all__ = [
    "CORNERNET_NAMES",
    "MMDET_NAMES",
    "HourglassNames",
    "convert_cornernet",
    "convert_centernet_hourglass",
    "convert_mmdet_cornernet",
    "corner_head_rules",
    "hourglass_rules",
]

CORNERNET_CONFIG = "configs/CornerNet/cornernet_hourglass104.py"
MMDET_CORNERNET_CONFIG = "configs/CornerNet/cornernet_hourglass104_mmdet.py"
CENTERNET_CONFIG = "configs/CenterNet/centernet_hourglass104.py"

# A BatchNorm field, as the group "field" (the rules keep it).
_BN = r"(?P<field>weight|bias|running_mean|running_var|num_batches_tracked)"
_CORNERS = {"tl": "top_left", "br": "bottom_right"}


@dataclass(frozen=True)
class HourglassNames:
    """
    Where a source keeps each part of Hourglass-104: regular expressions relative to the
    backbone's prefix; an indexed part has one group, the stack's or the join's index. A
    conv-norm is ``(prefix, conv, norm)``, its keys ``<prefix>.<conv>.weight`` and
    ``<prefix>.<norm>.<BatchNorm field>``. A residual block has ``conv1``/``bn1``,
    ``conv2``/``bn2`` and, where the shape changes, ``<shortcut>.0`` (conv) and
    ``<shortcut>.1`` (norm).
    """

    stem_conv: Tuple[str, str, str]  # the 7x7 conv-norm
    stem_block: str  # the stride-2 residual block after it
    stacks: str  # ModuleList of hourglasses; each has up1 (skip), low1 (down), low2, low3 (up)
    out_convs: Tuple[str, str, str]  # conv-norm after each hourglass, indexed
    join_inputs: Tuple[str, str, str]  # 1x1 conv-norm of a stack's input, indexed
    join_outputs: Tuple[str, str, str]  # 1x1 conv-norm of a stack's output, indexed
    join_blocks: str  # residual block after the join, indexed
    shortcut: str  # the residual block's shortcut Sequential


# princeton-vl/CornerNet models/py_utils/kp.py (``kp``), and CenterNet's copy in
# large_hourglass.py (``exkp``): ``convolution`` is conv/bn, ``residual`` has ``skip``.
CORNERNET_NAMES = HourglassNames(
    stem_conv=(r"pre\.0", "conv", "bn"),
    stem_block=r"pre\.1",
    stacks="kps",
    out_convs=(r"cnvs\.(\d+)", "conv", "bn"),
    join_inputs=(r"inters_\.(\d+)", "0", "1"),
    join_outputs=(r"cnvs_\.(\d+)", "0", "1"),
    join_blocks=r"inters\.(\d+)",
    shortcut="skip",
)

# mmdetection's HourglassNet: mmcv ConvModules (conv/bn), BasicBlocks in ResLayers (one block
# in the stem, indexed blocks in ``inters``) with a ``downsample`` shortcut.
MMDET_NAMES = HourglassNames(
    stem_conv=(r"stem\.0", "conv", "bn"),
    stem_block=r"stem\.1\.0",
    stacks="hourglass_modules",
    out_convs=(r"out_convs\.(\d+)", "conv", "bn"),
    join_inputs=(r"conv1x1s\.(\d+)", "conv", "bn"),
    join_outputs=(r"remap_convs\.(\d+)", "conv", "bn"),
    join_blocks=r"inters\.(\d+)",
    shortcut="downsample",
)

# The hourglass's paths: source name -> this project's (HourglassModule).
_HOURGLASS_PATHS = {"up1": "skip", "low1": "down", "low2": "inner", "low3": "up"}


def _conv_norm_rules(source: str, conv: str, norm: str, target: str) -> List[Rule]:
    return [
        Rule(rf"{source}\.{conv}\.weight", f"{target}.weight"),
        Rule(rf"{source}\.{norm}\.{_BN}", rf"{target}.norm.\g<field>"),
    ]


def _residual_rules(source: str, target: Callable[[re.Match], str], shortcut: str) -> List[Rule]:
    """A residual block under ``source`` (a regex; ``target(match)`` gives the block's prefix
    in this project) -> :class:`~anchorfree.modeling.backbones.hourglass.ResidualBlock`."""

    def key(suffix: str) -> Callable[[re.Match], str]:
        return lambda m: f"{target(m)}.{m.expand(suffix)}"

    s = rf"{source}\."
    return [
        Rule(rf"{s}conv(?P<conv>[12])\.weight", key(r"conv\g<conv>.weight")),
        Rule(rf"{s}bn(?P<conv>[12])\.{_BN}", key(r"conv\g<conv>.norm.\g<field>")),
        Rule(rf"{s}{shortcut}\.0\.weight", key("shortcut.weight")),
        Rule(rf"{s}{shortcut}\.1\.{_BN}", key(r"shortcut.norm.\g<field>")),
    ]


def hourglass_rules(names: HourglassNames, source: str, target: str) -> List[Rule]:
    """
    Rules from Hourglass-104 as ``names`` lays it out under ``source`` (a regex prefix, e.g.
    ``""`` or ``r"backbone\\."``) to :class:`~anchorfree.modeling.backbones.hourglass.Hourglass`
    under ``target`` (e.g. ``"backbone."``). The hourglasses are recursive: ``low2`` nests the
    next level (``inner``) down to the middle blocks.
    """
    s, t = source, target
    rules = _conv_norm_rules(s + names.stem_conv[0], *names.stem_conv[1:], f"{t}stem.0")
    rules += _residual_rules(s + names.stem_block, lambda m: f"{t}stem.1", names.shortcut)

    def hourglass_block(m: re.Match) -> str:
        nesting = "inner." * (len(m["nesting"]) // len("low2."))
        path = _HOURGLASS_PATHS[m["path"]]
        return f"{t}hourglasses.{m['stack']}.{nesting}{path}.{m['block']}"

    stack_block = (
        rf"{s}{names.stacks}\.(?P<stack>\d+)\.(?P<nesting>(?:low2\.)*)"
        rf"(?P<path>up1|low1|low2|low3)\.(?P<block>\d+)"
    )
    rules += _residual_rules(stack_block, hourglass_block, names.shortcut)
    for part, ours in (
        (names.out_convs, "out_convs"),
        (names.join_inputs, "join_inputs"),
        (names.join_outputs, "join_outputs"),
    ):
        prefix, conv, norm = part
        rules += _conv_norm_rules(s + prefix, conv, norm, rf"{t}{ours}.\1")
    rules += _residual_rules(
        s + names.join_blocks, lambda m: f"{t}join_blocks.{m[1]}", names.shortcut
    )
    return rules


def corner_head_rules(*, mmdet: bool) -> List[Rule]:
    """
    Rules from CornerNet's per-stack corner heads to this project's ``heads.<stack>`` of
    :class:`~anchorfree.cornernet.head.CornerNetHead`.

    CornerNet (``models/CornerNet.py`` ``pool``): ``{tl,br}_cnvs.<s>`` with ``p1_conv1`` /
    ``p2_conv1`` (the branches of the first / second pool: Top / Left, Bottom / Right),
    ``p_conv1``/``p_bn1`` after the pools, ``conv1``/``bn1`` the shortcut, ``conv2`` last;
    branches ``{tl,br}_{heats,tags,regrs}.<s>`` = ``[convolution(3x3, bias, ReLU), 1x1]``.
    mmdetection (``BiCornerPool``): ``bbox_head.{tl,br}_pool.<s>`` with ``direction1_conv`` /
    ``direction2_conv``, ``aftpool_conv``, ``conv1``, ``conv2`` (ConvModules), branches
    ``bbox_head.{tl,br}_{heat,emb,off}.<s>`` of two ConvModules without norm.
    """
    corner = r"(?P<corner>tl|br)"

    def head(part: str) -> Callable[[re.Match], str]:
        def key(m: re.Match) -> str:
            return f"heads.{m['stack']}.{_CORNERS[m['corner']]}.{part}.{m['field']}"

        return key

    if mmdet:
        pool = rf"bbox_head\.{corner}_pool\.(?P<stack>\d+)"
        convs = {
            "direction1_conv": "branch_a",
            "direction2_conv": "branch_b",
            "aftpool_conv": "merge",
            "conv1": "shortcut",
            "conv2": "out",
        }
        rules = []
        for theirs, ours in convs.items():
            rules += [
                Rule(rf"{pool}\.{theirs}\.conv\.(?P<field>weight)", head(f"pool.{ours}")),
                Rule(rf"{pool}\.{theirs}\.bn\.{_BN}", head(f"pool.{ours}.norm")),
            ]
        branches = {"heat": "heatmap", "emb": "embedding", "off": "offset"}
        for theirs, ours in branches.items():
            branch = rf"bbox_head\.{corner}_{theirs}\.(?P<stack>\d+)"
            rules += [
                Rule(rf"{branch}\.0\.conv\.(?P<field>weight|bias)", head(f"{ours}.0")),
                Rule(rf"{branch}\.1\.conv\.(?P<field>weight|bias)", head(f"{ours}.2")),
            ]
        return rules
    pool = rf"{corner}_cnvs\.(?P<stack>\d+)"
    rules = []
    for theirs, ours in (("p1_conv1", "branch_a"), ("p2_conv1", "branch_b"), ("conv2", "out")):
        rules += [
            Rule(rf"{pool}\.{theirs}\.conv\.(?P<field>weight)", head(f"pool.{ours}")),
            Rule(rf"{pool}\.{theirs}\.bn\.{_BN}", head(f"pool.{ours}.norm")),
        ]
    for conv, norm, ours in (("p_conv1", "p_bn1", "merge"), ("conv1", "bn1", "shortcut")):
        rules += [
            Rule(rf"{pool}\.{conv}\.(?P<field>weight)", head(f"pool.{ours}")),
            Rule(rf"{pool}\.{norm}\.{_BN}", head(f"pool.{ours}.norm")),
        ]
    for theirs, ours in (("heats", "heatmap"), ("tags", "embedding"), ("regrs", "offset")):
        branch = rf"{corner}_{theirs}\.(?P<stack>\d+)"
        rules += [
            Rule(rf"{branch}\.0\.conv\.(?P<field>weight|bias)", head(f"{ours}.0")),
            Rule(rf"{branch}\.1\.(?P<field>weight|bias)", head(f"{ours}.2")),
        ]
    return rules


def centernet_head_rules() -> List[Rule]:
    """CenterNet's ``exkp`` heads ``{hm,wh,reg}.<stack>`` = ``[convolution(3x3, bias, ReLU),
    1x1]`` -> :class:`~anchorfree.centernet.head.CenterNetHead`'s per-input branches."""
    rules = []
    for theirs, ours in CENTERNET_BRANCHES.items():
        rules += [
            Rule(rf"{theirs}\.(\d+)\.0\.conv\.(weight|bias)", rf"head.{ours}.\1.0.\2"),
            Rule(rf"{theirs}\.(\d+)\.1\.(weight|bias)", rf"head.{ours}.\1.2.\2"),
        ]
    return rules


@register_source("cornernet")
def convert_cornernet(checkpoint: Mapping[str, Any]) -> ConvertedCheckpoint:
    """princeton-vl/CornerNet's ``CornerNet_500000.pkl``: the state dict its ``nnet`` saves
    (``torch.save(model.state_dict())`` of the model wrapped in ``DummyModule``: keys
    ``module.pre...``, ``module.kps...``, ``module.tl_cnvs...``)."""
    state_dict = strip_prefix(find_state_dict(checkpoint, [], source="CornerNet"), "module.")
    rules = hourglass_rules(CORNERNET_NAMES, "", "backbone.") + corner_head_rules(mmdet=False)
    return ConvertedCheckpoint(
        model=rename_keys(state_dict, rules, source="CornerNet"),
        config=CORNERNET_CONFIG,
        architecture="CornerNet Hourglass-104 (princeton-vl/CornerNet)",
        notes=[
            "Input: BGR, normalized by CornerNet's COCO statistics (set in the config).",
        ],
    )


@register_centernet_network("pre.")
def convert_centernet_hourglass(state_dict: Dict[str, Tensor]) -> ConvertedCheckpoint:
    """CenterNet's ``large_hourglass`` (``ctdet_coco_hg.pth``): the backbone as CornerNet's,
    heads ``hm``/``wh``/``reg`` per stack."""
    rules = hourglass_rules(CORNERNET_NAMES, "", "backbone.") + centernet_head_rules()
    return ConvertedCheckpoint(
        model=rename_keys(state_dict, rules, source="CenterNet Hourglass-104"),
        config=CENTERNET_CONFIG,
        architecture="CenterNet Hourglass-104 (xingyizhou/CenterNet large_hourglass)",
        notes=[
            "Input: BGR, normalized by CenterNet's COCO statistics (set in the config).",
        ],
    )


@register_mmdet_detector("bbox_head.tl_heat")
def convert_mmdet_cornernet(state_dict: Dict[str, Tensor]) -> ConvertedCheckpoint:
    """mmdetection's CornerNet (``HourglassNet`` + ``CornerHead``, 2 stacks)."""
    rules = hourglass_rules(MMDET_NAMES, r"backbone\.", "backbone.") + corner_head_rules(mmdet=True)
    return ConvertedCheckpoint(
        model=rename_keys(state_dict, rules, source="mmdetection CornerNet"),
        config=MMDET_CORNERNET_CONFIG,
        architecture="CornerNet Hourglass-104 (mmdetection)",
        notes=[
            "Input: RGB, normalized by the ImageNet statistics (mmdetection's img_norm_cfg; "
            "set in the config).",
        ],
    )
