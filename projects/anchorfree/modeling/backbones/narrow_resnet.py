"""
Stages of a ResNet of any width, for CPU-sized backbones trained from scratch.

Detectron2's ``ResNet.make_default_stages`` fixes the widths of each depth (64-512 for
ResNet-18/34); :func:`narrow_resnet_stages` builds the same stages (basic blocks, the first
block of every stage after the first strided by 2) with the widths given, for
``detectron2.modeling.backbone.ResNet``, which then works with Detectron2's FPN and with
:class:`~anchorfree.modeling.backbones.resnet_stride4.FPNP2` as usual. In a LazyConfig::

    bottom_up=L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=32, norm="BN"),
        stages=L(narrow_resnet_stages)(widths=[32, 64, 128, 256], norm="BN"),
        out_features=["res2", "res3", "res4", "res5"],
    )
"""

from typing import List, Optional, Sequence

from torch import nn

from detectron2.modeling.backbone.resnet import BasicBlock, ResNet

__all__ = ["narrow_resnet_stages"]

# ResNet-18's blocks per stage (res2..res5).
RESNET18_BLOCKS = (2, 2, 2, 2)


def narrow_resnet_stages(
    widths: Sequence[int],
    num_blocks: Sequence[int] = RESNET18_BLOCKS,
    stem_channels: Optional[int] = None,
    norm: str = "BN",
) -> List[List[nn.Module]]:
    """
    Args:
        widths: output channels of res2, res3, ... (one stage per entry).
        num_blocks: basic blocks per stage, as many entries as ``widths``.
        stem_channels: channels coming out of the stem (the input of res2); ``widths[0]``
            when None.
        norm: normalization of every block (Detectron2's ``get_norm`` names).

    Returns:
        The stages for ``ResNet(stem, stages, ...)``: res2 at stride 4 (as the stem leaves
        it), every following stage halving the resolution.
    """
    if len(widths) != len(num_blocks):
        raise ValueError(
            f"widths {list(widths)} and num_blocks {list(num_blocks)} differ in length"
        )
    in_channels = widths[0] if stem_channels is None else stem_channels
    stages = []
    for index, (width, blocks) in enumerate(zip(widths, num_blocks)):
        stages.append(
            ResNet.make_stage(
                block_class=BasicBlock,
                num_blocks=blocks,
                stride_per_block=[1 if index == 0 else 2] + [1] * (blocks - 1),
                in_channels=in_channels,
                out_channels=width,
                norm=norm,
            )
        )
        in_channels = width
    return stages
