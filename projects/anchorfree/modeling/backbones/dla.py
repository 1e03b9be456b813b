"""
DLA-34 (Deep Layer Aggregation, Yu et al., CVPR 2018) with the upsampling neck of CenterNet
("Objects as Points", Zhou et al. 2019, Sec. 4 and Fig. 6), one stride-4 output.

* :class:`DLA` (outputs ``"level0"`` .. ``"level5"``, stride ``2^k`` for level ``k``): a 7x7
  conv-norm-ReLU stem at stride 1; levels 0 and 1, plain 3x3 conv-norm-ReLU layers (level 1 at
  stride 2); levels 2..5, each an :class:`AggregationTree` of basic residual blocks entered
  at stride 2: hierarchical deep aggregation, whose :class:`AggregationNode` (1x1
  conv-norm-ReLU over the concatenated children) merges the blocks of a tree, and, at the
  levels marked ``level_root``, the level's input too.
* :class:`DLAUpNeck` (output ``"ida4"``): iterative deep aggregation (:class:`IDAUp`) of the
  bottom-up levels 2..5 from the coarsest to the finest, then one more :class:`IDAUp` of the
  aggregated levels 2..4 to stride 4. Every aggregation step projects a coarser map with a
  deformable 3x3 conv-norm-ReLU, upsamples it with a per-channel (grouped) transposed conv
  initialized to bilinear interpolation, adds the finer map and merges with a second
  deformable 3x3 conv-norm-ReLU (:class:`IDAUpStep`).

Both are Detectron2 ``Backbone``s: ``forward(images)`` takes ``[N, 3, H, W]`` with ``H`` and
``W`` divisible by ``size_divisibility`` (32; ``ImageList.from_tensors`` pads to it). A
stride-``s`` output is ``[N, C, H/s, W/s]``; its cell ``(i, j)`` covers input pixels
``[s j, s j + s) x [s i, s i + s)``.
"""

from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from detectron2.layers import get_norm
from detectron2.modeling.backbone import Backbone

from ..layers import NormType, conv_norm
from .resnet_stride4 import OUTPUT_STRIDE, ModulatedDeformConv3x3, bilinear_upsampling_weight

__all__ = [
    "DLA",
    "AggregationNode",
    "AggregationTree",
    "DLABasicBlock",
    "DLAUpNeck",
    "DeformableConvNormReLU",
    "IDAUp",
    "IDAUpStep",
]


class DLABasicBlock(nn.Module):
    """
    ``relu(conv-norm(conv-norm-relu(x)) + residual)`` with 3x3 convs, the first with
    ``stride``: ``[N, in, H, W] -> [N, out, H / stride, W / stride]``. Unlike a ResNet block it
    has no shortcut of its own: its tree passes the residual (``x``, or ``x`` max-pooled and
    projected where the shape changes).
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, norm: NormType):
        super().__init__()
        self.conv1 = conv_norm(in_channels, out_channels, 3, norm, stride=stride, relu=True)
        self.conv2 = conv_norm(out_channels, out_channels, 3, norm)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return F.relu(self.conv2(self.conv1(x)) + residual)


class AggregationNode(nn.Module):
    """``relu(norm(conv 1x1(concat(children))))``: the node of a tree that merges its
    children (``[N, C_k, H, W]`` each, ``sum C_k = in_channels``) into ``[N, out, H, W]``."""

    def __init__(self, in_channels: int, out_channels: int, *, norm: NormType):
        super().__init__()
        self.conv = conv_norm(in_channels, out_channels, 1, norm, relu=True)

    def forward(self, children: Sequence[Tensor]) -> Tensor:
        return self.conv(torch.cat(list(children), dim=1))


class AggregationTree(nn.Module):
    """
    A binary tree of ``depth`` levels of :class:`DLABasicBlock` (two blocks at each leaf), the
    first block with ``stride``: ``[N, in, H, W] -> [N, out, H / stride, W / stride]``.

    * ``depth == 1``: ``x1 = tree1(x, residual)``, ``x2 = tree2(x1, x1)``, and the output is
      ``root([x2, x1, *children])``. The residual of ``tree1`` is ``x`` max-pooled by
      ``stride`` (``bottom``), projected by a 1x1 conv-norm where the channels change.
    * ``depth > 1``: ``x1 = tree1(x)`` and the output is ``tree2(x1, [*children, x1])``: the
      subtree outputs collect as children of the last leaf's root.

    ``children`` are the maps a parent tree hands down for this tree's (last) root; with
    ``level_root`` the tree adds its own ``bottom`` to them first (DLA's levels 3..5, so that
    every level's root also sees the level's input).
    """

    def __init__(
        self,
        *,
        depth: int,
        in_channels: int,
        out_channels: int,
        stride: int,
        norm: NormType,
        level_root: bool = False,
        root_channels: int = 0,
    ):
        """
        Args:
            depth: levels of the tree (1: two blocks and their root).
            in_channels, out_channels: of the whole tree.
            stride: of the first block (1 or 2).
            norm: ``get_norm`` name ("BN" in the original) or a callable of the channels.
            level_root: add ``bottom`` to the children of the last root.
            root_channels: channels the last root concatenates; 0 for the tree's own two
                block outputs (``2 out``), which a parent tree increases by what it hands down.
        """
        super().__init__()
        if depth < 1:
            raise ValueError(f"An aggregation tree has depth >= 1, got {depth}")
        root_channels = root_channels or 2 * out_channels
        if level_root:
            root_channels += in_channels
        self.depth = depth
        self.level_root = level_root
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else None
        if depth == 1:
            self.tree1 = DLABasicBlock(in_channels, out_channels, stride=stride, norm=norm)
            self.tree2 = DLABasicBlock(out_channels, out_channels, stride=1, norm=norm)
            self.root = AggregationNode(root_channels, out_channels, norm=norm)
            # The original also builds this projection at depth > 1, where its output is
            # discarded (the subtree computes its own residual): only leaves have one here.
            self.project = (
                conv_norm(in_channels, out_channels, 1, norm)
                if in_channels != out_channels
                else None
            )
        else:
            self.tree1 = AggregationTree(
                depth=depth - 1,
                in_channels=in_channels,
                out_channels=out_channels,
                stride=stride,
                norm=norm,
            )
            self.tree2 = AggregationTree(
                depth=depth - 1,
                in_channels=out_channels,
                out_channels=out_channels,
                stride=1,
                norm=norm,
                root_channels=root_channels + out_channels,
            )

    def forward(self, x: Tensor, children: Sequence[Tensor] = ()) -> Tensor:
        """``x`` ``[N, in, H, W]`` and ``children`` (maps of the output's size) -> ``[N, out,
        H / stride, W / stride]``."""
        if self.depth == 1 or self.level_root:
            bottom = self.downsample(x) if self.downsample is not None else x
        if self.level_root:
            children = [*children, bottom]
        if self.depth == 1:
            x1 = self.tree1(x, self.project(bottom) if self.project is not None else bottom)
            x2 = self.tree2(x1, x1)
            return self.root([x2, x1, *children])
        x1 = self.tree1(x)
        return self.tree2(x1, [*children, x1])


class DLA(Backbone):
    """
    The DLA bottom-up network (see the module docstring), e.g. DLA-34: ``levels=[1, 1, 1, 2,
    2, 1]``, ``channels=[16, 32, 64, 128, 256, 512]``. Level ``k`` has stride ``2^k`` and
    ``channels[k]`` channels; ``levels[0]``, ``levels[1]`` are the numbers of 3x3 convs of
    levels 0 and 1, ``levels[2..5]`` the depths of the trees of levels 2..5. Without the
    ImageNet classifier.
    """

    def __init__(
        self,
        *,
        levels: Sequence[int],
        channels: Sequence[int],
        norm: NormType = "BN",
        out_features: Sequence[str] = ("level2", "level3", "level4", "level5"),
    ):
        """
        Args:
            levels, channels: six entries each, as above.
            norm: ``get_norm`` name of every norm ("BN" in the original) or a callable.
            out_features: the levels to return, ``"level0"`` .. ``"level5"``; the levels
                above the coarsest of them are not built.
        """
        super().__init__()
        if len(levels) != 6 or len(channels) != 6:
            raise ValueError(f"DLA has 6 levels, got levels={levels}, channels={channels}")
        names = [f"level{k}" for k in range(6)]
        unknown = [f for f in out_features if f not in names]
        if unknown or not out_features:
            raise ValueError(f"out_features must be among {names}, got {list(out_features)}")
        num_levels = max(names.index(f) for f in out_features) + 1
        self.stem = conv_norm(3, channels[0], 7, norm, relu=True)
        in_channels = channels[0]
        for k in range(num_levels):
            stride = 1 if k == 0 else 2
            if k < 2:
                convs = [
                    conv_norm(
                        in_channels if i == 0 else channels[k],
                        channels[k],
                        3,
                        norm,
                        stride=stride if i == 0 else 1,
                        relu=True,
                    )
                    for i in range(levels[k])
                ]
                level = nn.Sequential(*convs)
            else:
                level = AggregationTree(
                    depth=levels[k],
                    in_channels=in_channels,
                    out_channels=channels[k],
                    stride=stride,
                    norm=norm,
                    level_root=k > 2,
                )
            self.add_module(names[k], level)
            in_channels = channels[k]
        self.num_levels = num_levels
        self._out_features = list(out_features)
        self._out_feature_channels = {f: channels[names.index(f)] for f in out_features}
        self._out_feature_strides = {f: 2 ** names.index(f) for f in out_features}

    @property
    def size_divisibility(self) -> int:
        return 2 ** (self.num_levels - 1)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        x = self.stem(x)
        outputs = {}
        for k in range(self.num_levels):
            x = getattr(self, f"level{k}")(x)
            outputs[f"level{k}"] = x
        return {f: outputs[f] for f in self._out_features}


class DeformableConvNormReLU(nn.Module):
    """``relu(norm(deformable conv 3x3(x)))``, the conv a modulated deformable one with bias
    (:class:`ModulatedDeformConv3x3`, which starts as a regular 3x3 conv with its taps weighted
    1/2): ``[N, in, H, W] -> [N, out, H, W]``."""

    def __init__(self, in_channels: int, out_channels: int, *, norm: NormType):
        super().__init__()
        self.conv = ModulatedDeformConv3x3(in_channels, out_channels, bias=True)
        self.norm = get_norm(norm, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return F.relu(self.norm(x) if self.norm is not None else x)


class IDAUpStep(nn.Module):
    """
    One aggregation step of :class:`IDAUp`: ``node(upsample(project(coarse)) + fine)`` for a
    ``[N, in, H / f, W / f]`` map ``coarse`` and a ``[N, out, H, W]`` map ``fine``, ``f =
    up_factor``. ``project`` and ``node`` are :class:`DeformableConvNormReLU`; ``upsample``
    is a ``2f x 2f`` transposed conv of stride ``f``, padding ``f / 2`` (exactly ``f`` times
    the size), one filter per channel (grouped), no bias, starting as bilinear upsampling.
    """

    def __init__(self, in_channels: int, out_channels: int, *, up_factor: int, norm: NormType):
        super().__init__()
        if up_factor < 2 or up_factor % 2:
            raise ValueError(f"up_factor must be an even factor >= 2, got {up_factor}")
        self.project = DeformableConvNormReLU(in_channels, out_channels, norm=norm)
        self.upsample = nn.ConvTranspose2d(
            out_channels,
            out_channels,
            2 * up_factor,
            stride=up_factor,
            padding=up_factor // 2,
            groups=out_channels,
            bias=False,
        )
        with torch.no_grad():
            kernel = bilinear_upsampling_weight(1, 2 * up_factor)
            self.upsample.weight.copy_(kernel.expand_as(self.upsample.weight))
        self.node = DeformableConvNormReLU(out_channels, out_channels, norm=norm)

    def forward(self, coarse: Tensor, fine: Tensor) -> Tensor:
        return self.node(self.upsample(self.project(coarse)) + fine)


class IDAUp(nn.Module):
    """
    Iterative deep aggregation up to the finest of several maps: ``features[0]`` (``[N,
    out_channels, H, W]``) is kept; each further ``features[i]`` (``[N, in_channels[i], H /
    up_factors[i], W / up_factors[i]]``) is aggregated with the result of the one before it by
    step ``i`` (:class:`IDAUpStep`), so the last result has seen all of them.
    """

    def __init__(
        self,
        *,
        out_channels: int,
        in_channels: Sequence[int],
        up_factors: Sequence[int],
        norm: NormType,
    ):
        """
        Args:
            out_channels: channels of ``features[0]`` and of every result.
            in_channels, up_factors: per input, its channels and its stride relative to
                ``features[0]`` (entry 0 of both unused: 0 is the finest input, kept as is).
            norm: ``get_norm`` name or callable of the norms.
        """
        super().__init__()
        if len(in_channels) != len(up_factors) or len(in_channels) < 2:
            raise ValueError(
                f"IDAUp takes >= 2 inputs with one channel count and factor each, got "
                f"in_channels={list(in_channels)}, up_factors={list(up_factors)}"
            )
        self.steps = nn.ModuleList(
            IDAUpStep(c, out_channels, up_factor=f, norm=norm)
            for c, f in zip(in_channels[1:], up_factors[1:])
        )

    def forward(self, features: Sequence[Tensor]) -> List[Tensor]:
        """``features`` as described above -> ``[features[0], result_1, ..., result_n]``,
        every result ``[N, out_channels, H, W]``."""
        results = [features[0]]
        for step, coarse in zip(self.steps, features[1:]):
            results.append(step(coarse, results[-1]))
        return results


class DLAUpNeck(Backbone):
    """
    CenterNet's neck on a bottom-up network with inputs of strides ``4, 8, ..., 2^(n+1)``
    (DLA's levels 2..5), output ``"ida4"`` at stride 4 (see the module docstring):

    * ``dla_up``, ``n - 1`` :class:`IDAUp` stages, from the coarsest end: stage ``s``
      aggregates input ``j = n - 2 - s`` (as is) with the maps ``j + 1 .. n - 1`` of the
      stage before (the bottom-up input ``n - 1`` for the first stage) up to input ``j``'s
      stride and channels. Its last result is the aggregated map of stride of input ``j``.
    * ``ida_up``, one :class:`IDAUp` of those aggregated maps at the strides of inputs
      ``0 .. n - 2`` (not the coarsest) into ``out_channels`` at stride 4.
    """

    def __init__(
        self,
        *,
        bottom_up: Backbone,
        in_features: Sequence[str] = ("level2", "level3", "level4", "level5"),
        out_channels: Optional[int] = None,
        norm: NormType = "BN",
    ):
        """
        Args:
            bottom_up: e.g. :class:`DLA`; must output ``in_features``.
            in_features: at least 3 bottom-up maps, finest first, the finest of stride 4 and
                every next one of twice the stride of the one before.
            out_channels: of the output; default: the finest input's channels (64 for DLA-34,
                as the original).
            norm: ``get_norm`` name ("BN" in the original) or callable of the norms.
        """
        super().__init__()
        shapes = [bottom_up.output_shape()[f] for f in in_features]
        strides = [s.stride for s in shapes]
        if len(shapes) < 3 or strides != [OUTPUT_STRIDE * 2**i for i in range(len(shapes))]:
            raise ValueError(
                f"DLAUpNeck takes >= 3 inputs of strides 4, 8, 16, ...; "
                f"{list(in_features)} have strides {strides}"
            )
        self.bottom_up = bottom_up
        self.in_features = list(in_features)
        channels = [s.channels for s in shapes]
        n = len(channels)
        # The inputs of the next stage: its channels and strides relative to input 0.
        stage_channels = list(channels)
        stage_scales = [2**i for i in range(n)]
        self.dla_up = nn.ModuleList()
        for j in range(n - 2, -1, -1):
            self.dla_up.append(
                IDAUp(
                    out_channels=channels[j],
                    in_channels=stage_channels[j:],
                    up_factors=[s // stage_scales[j] for s in stage_scales[j:]],
                    norm=norm,
                )
            )
            # Maps j + 1 .. n - 1 are now at input j's stride with its channels.
            stage_channels[j + 1 :] = [channels[j]] * (n - j - 1)
            stage_scales[j + 1 :] = [stage_scales[j]] * (n - j - 1)
        out_channels = out_channels or channels[0]
        self.ida_up = IDAUp(
            out_channels=out_channels,
            in_channels=channels[:-1],
            up_factors=[2**i for i in range(n - 1)],
            norm=norm,
        )
        self._size_divisibility = bottom_up.size_divisibility
        self._out_features = ["ida4"]
        self._out_feature_channels = {"ida4": out_channels}
        self._out_feature_strides = {"ida4": OUTPUT_STRIDE}

    @property
    def size_divisibility(self) -> int:
        return self._size_divisibility

    def aggregate_levels(self, features: Sequence[Tensor]) -> List[Tensor]:
        """The ``dla_up`` stages on the bottom-up maps (finest first) -> the aggregated map at
        each input's stride (finest first; the coarsest is its input as is)."""
        maps = list(features)
        aggregated = [maps[-1]]
        for stage, j in zip(self.dla_up, range(len(maps) - 2, -1, -1)):
            maps[j:] = stage(maps[j:])
            aggregated.insert(0, maps[-1])
        return aggregated

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        bottom_up = self.bottom_up(x)
        aggregated = self.aggregate_levels([bottom_up[f] for f in self.in_features])
        return {"ida4": self.ida_up(aggregated[:-1])[-1]}
