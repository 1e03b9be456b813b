"""
The bottleneck stages of ResNet and ResNeXt of any depth, for LazyConfigs.

Detectron2's ``ResNet.make_default_stages`` sets each stage's bottleneck width to a quarter of
its output, so it builds ResNets only; its yacs ``build_resnet_backbone`` reads
``NUM_GROUPS``/``WIDTH_PER_GROUP``, which a LazyConfig has no counterpart for.
:func:`bottleneck_stages` builds the same stages (``BottleneckBlock``, res2 at stride 4, every
following stage halving the resolution) with ``num_groups`` groups of ``width_per_group``
channels in res2's 3x3 convs, doubling per stage, as ``build_resnet_backbone`` does::

    bottom_up=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=64, norm="FrozenBN"),
        stages=L(bottleneck_stages)(depth=101, num_groups=32, width_per_group=8,
                                    stride_in_1x1=False, norm="FrozenBN"),
        out_features=["res3", "res4", "res5"],
    )
"""

from typing import List

from torch import nn

from detectron2.modeling.backbone.resnet import BottleneckBlock, ResNet

__all__ = ["BOTTLENECK_BLOCKS", "bottleneck_stages"]

# Bottleneck blocks of res2..res5 per depth.
BOTTLENECK_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def bottleneck_stages(
    depth: int,
    *,
    num_groups: int = 1,
    width_per_group: int = 64,
    stride_in_1x1: bool = True,
    norm: str = "FrozenBN",
) -> List[List[nn.Module]]:
    """
    Args:
        depth: 50, 101 or 152.
        num_groups, width_per_group: of res2's 3x3 convs (1 x 64: ResNet; 32 x 8: ResNeXt
            32x8d); both the bottleneck width, doubled per stage.
        stride_in_1x1: the stride on each stage's first 1x1 conv (MSRA ResNets) rather than
            its 3x3 conv (FAIR ResNeXts).
        norm: normalization of every block (Detectron2's ``get_norm`` names).

    Returns:
        The stages for ``ResNet(stem, stages, ...)`` after a 64-channel stem.
    """
    if depth not in BOTTLENECK_BLOCKS:
        raise ValueError(f"depth must be one of {sorted(BOTTLENECK_BLOCKS)}, got {depth}")
    stages = []
    in_channels, out_channels = 64, 256
    bottleneck_channels = num_groups * width_per_group
    for index, blocks in enumerate(BOTTLENECK_BLOCKS[depth]):
        stages.append(
            ResNet.make_stage(
                block_class=BottleneckBlock,
                num_blocks=blocks,
                stride_per_block=[1 if index == 0 else 2] + [1] * (blocks - 1),
                in_channels=in_channels,
                bottleneck_channels=bottleneck_channels,
                out_channels=out_channels,
                num_groups=num_groups,
                stride_in_1x1=stride_in_1x1,
                norm=norm,
            )
        )
        in_channels = out_channels
        out_channels *= 2
        bottleneck_channels *= 2
    return stages
