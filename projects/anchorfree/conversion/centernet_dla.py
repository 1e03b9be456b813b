"""
CenterNet's DLA-34 (xingyizhou/CenterNet ``pose_dla_dcn.DLASeg``: ``ctdet_coco_dla_1x.pth``,
``ctdet_coco_dla_2x.pth``; ``--source centernet``, recognized by its ``base.`` keys) ->
``configs/CenterNet/centernet_dla34_2x.py``'s model.

Layer for layer the same network as :mod:`anchorfree.modeling.backbones.dla`; the names map
as follows (``<bn>`` a BatchNorm field):

* ``base.`` (``DLA``) -> ``backbone.bottom_up.``: ``base_layer.{0,1}`` -> ``stem``/
  ``stem.norm``; the conv-BN-ReLU triples ``level{0,1}.{3i,3i+1}`` -> ``level{0,1}.{i}``/
  ``.{i}.norm``; in the trees (same ``tree1``/``tree2``/``root``/``project`` structure)
  ``bn{1,2}`` -> ``conv{1,2}.norm``, ``root.bn`` -> ``root.conv.norm``, ``project.{0,1}`` ->
  ``project``/``project.norm``.
* ``dla_up.ida_{s}`` and ``ida_up`` (``IDAUp``) -> ``backbone.dla_up.{s}`` and
  ``backbone.ida_up``: ``proj_{k}``, ``up_{k}``, ``node_{k}`` -> ``steps.{k-1}.project``,
  ``.upsample``, ``.node``; in each ``DeformConv``, ``conv`` (DCNv2: ``weight``, ``bias``,
  ``conv_offset_mask``) -> ``conv`` (``offset_mask``), ``actf.0`` -> ``norm``. The offset/mask
  conv is copied unchanged: the original splits its 27 channels into two offset chunks and a
  mask chunk and concatenates the offset chunks again, i.e. channels 0..17 are the offsets in
  DCNv2's interleaved ``(dy, dx)`` per tap, torchvision's layout too, and 18..26 the mask logits.
* heads ``hm``/``wh``/``reg`` -> ``head.heatmap``/``head.wh``/``head.offset`` (one input).

Not converted: ``base.fc`` (DLA-34's ImageNet classifier, which ``load_pretrained_model``
attaches to the base: the released models carry it, DLASeg's forward never calls it) and
``base.level{3,4}.project`` (a projection that the original's ``Tree`` of depth 2 computes and
discards: its subtree recomputes the residual; no effect on any output).
"""

import re
from typing import Callable, Dict, List

from torch import Tensor

from .centernet import centernet_single_head_rules, register_centernet_network
from .key_mapping import BN_SUFFIX, Rule, rename_keys
from .sources import ConvertedCheckpoint

__all__ = ["CONFIG", "convert_centernet_dla34", "dla34_rules"]

CONFIG = "configs/CenterNet/centernet_dla34_2x.py"


def _level_conv_key(match) -> str:
    """``level{0,1}`` are Sequentials of (conv, BN, ReLU) triples; ours of conv-norms."""
    level, index, field = match[1], int(match[2]), match[3]
    layer = f"backbone.bottom_up.level{level}.{index // 3}"
    return f"{layer}.weight" if index % 3 == 0 else f"{layer}.norm.{field}"


def _deform_conv_rules(source: str, target: Callable[[re.Match], str]) -> List[Rule]:
    """``DeformConv`` (``conv`` = DCN, ``actf`` = BN, ReLU) at ``source`` (a regex with one
    group) -> ``DeformableConvNormReLU`` at ``target(match)``."""
    return [
        Rule(rf"{source}\.conv\.(weight|bias)", lambda m: f"{target(m)}.conv.{m[2]}"),
        Rule(
            rf"{source}\.conv\.conv_offset_mask\.(weight|bias)",
            lambda m: f"{target(m)}.conv.offset_mask.{m[2]}",
        ),
        Rule(rf"{source}\.actf\.0\.{BN_SUFFIX}", lambda m: f"{target(m)}.norm.{m[2]}"),
    ]


def _ida_up_rules(source: str, target: str) -> List[Rule]:
    """One ``IDAUp`` under ``source`` (a regex prefix without groups) -> ours under
    ``target``: its ``proj_k``, ``up_k``, ``node_k`` are our step ``k - 1``."""

    def step(part: str):
        return lambda m: f"{target}.steps.{int(m[1]) - 1}.{part}"

    return [
        *_deform_conv_rules(rf"{source}\.proj_(\d+)", step("project")),
        *_deform_conv_rules(rf"{source}\.node_(\d+)", step("node")),
        Rule(rf"{source}\.up_(\d+)\.weight", lambda m: f"{step('upsample')(m)}.weight"),
    ]


def dla34_rules() -> List[Rule]:
    """Every key of the original's ``DLASeg('dla34', ...)`` (see the module docstring)."""
    base, ours = r"base\.", "backbone.bottom_up."
    tree = rf"{base}(level[2-5](?:\.tree[12])*)"
    rules = [
        Rule(
            rf"{base}fc\.(weight|bias)",
            None,
            reason="DLA-34's ImageNet classifier, attached by load_pretrained_model; not part "
            "of DLASeg's forward",
        ),
        Rule(
            rf"{base}level[34]\.project\..*",
            None,
            reason="the projection of a depth-2 Tree, whose output the original discards (the "
            "subtree computes its own residual)",
        ),
        Rule(rf"{base}base_layer\.0\.weight", f"{ours}stem.weight"),
        Rule(rf"{base}base_layer\.1\.{BN_SUFFIX}", rf"{ours}stem.norm.\1"),
        Rule(rf"{base}level([01])\.(\d+)\.{BN_SUFFIX}", _level_conv_key),
        Rule(rf"{tree}\.conv([12])\.weight", rf"{ours}\1.conv\2.weight"),
        Rule(rf"{tree}\.bn([12])\.{BN_SUFFIX}", rf"{ours}\1.conv\2.norm.\3"),
        Rule(rf"{tree}\.root\.conv\.weight", rf"{ours}\1.root.conv.weight"),
        Rule(rf"{tree}\.root\.bn\.{BN_SUFFIX}", rf"{ours}\1.root.conv.norm.\2"),
        Rule(rf"{tree}\.project\.0\.weight", rf"{ours}\1.project.weight"),
        Rule(rf"{tree}\.project\.1\.{BN_SUFFIX}", rf"{ours}\1.project.norm.\2"),
    ]
    for stage in range(3):
        rules += _ida_up_rules(rf"dla_up\.ida_{stage}", f"backbone.dla_up.{stage}")
    rules += _ida_up_rules(r"ida_up", "backbone.ida_up")
    return rules + centernet_single_head_rules()


@register_centernet_network("base.")
def convert_centernet_dla34(state_dict: Dict[str, Tensor]) -> ConvertedCheckpoint:
    """CenterNet's DLA-34 (``DLASeg``, the ``base.`` keys) -> our CenterNet of
    :data:`CONFIG`."""
    return ConvertedCheckpoint(
        model=rename_keys(state_dict, dla34_rules(), source="CenterNet DLA-34"),
        config=CONFIG,
        architecture="CenterNet DLA-34 (xingyizhou/CenterNet pose_dla_dcn.DLASeg)",
        notes=[
            "Input: BGR, normalized by CenterNet's COCO statistics (set in the config).",
            "The config decodes with this project's conventions (clamped heatmap sigmoid, "
            "negative sizes taken as 0) and its default test pipeline (longer side resized to "
            "512, padded to 32), not the original's affine warp.",
        ],
    )
