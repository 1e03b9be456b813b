"""
Stacked hourglass backbone (Newell et al., ECCV 2016) as modified by CornerNet (Law & Deng,
ECCV 2018, Sec. 4.1), e.g. Hourglass-104:

- stem: 7x7 conv-norm-ReLU, stride 2, 128 channels, then a residual block with stride 2 and
  256 channels: stride 4;
- ``num_stacks`` hourglass modules. Each halves the resolution ``depth`` times with stride-2
  residual blocks (no max pooling), widening the channels level by level (256, 256, 384, 384,
  384, 512), and comes back up with residual blocks then nearest-neighbour upsampling, adding a
  skip branch of residual blocks at every level; ``blocks[0..depth-1]`` residual blocks per
  level on each of the three paths, ``blocks[depth]`` in the middle (2, 2, 2, 2, 2, 4);
- after every hourglass a 3x3 conv-norm-ReLU to ``out_channels``: the stack's output feature;
- between stacks (intermediate supervision): 1x1 conv-norm of the stack's output plus 1x1
  conv-norm of the stack's input, ReLU, and a residual block, giving the next stack's input.
  The predictions themselves are not fed back, as in the paper.

Every output has stride 4. The residual block is the two-3x3-conv block of CornerNet's
hourglass (not Newell's bottleneck), with a 1x1 conv-norm shortcut wherever the stride or the
channel count changes.
"""

from typing import Dict, List, Sequence

from torch import Tensor, nn
from torch.nn import functional as F

from detectron2.modeling import Backbone

from ..layers import NormType, conv_norm

__all__ = [
    "Hourglass",
    "HourglassModule",
    "ResidualBlock",
]

# The stem's two stride-2 layers.
STEM_STRIDE = 4


class ResidualBlock(nn.Module):
    """
    ``relu(conv-norm(conv-norm-relu(x)) + shortcut(x))`` with 3x3 convs, the first with
    ``stride``; the shortcut is the identity, or a 1x1 conv-norm (with ``stride``) where the
    shape changes. ``[N, in, H, W] -> [N, out, ceil(H / stride), ceil(W / stride)]``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, norm: NormType):
        super().__init__()
        self.conv1 = conv_norm(in_channels, out_channels, 3, norm, stride=stride, relu=True)
        self.conv2 = conv_norm(out_channels, out_channels, 3, norm)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = conv_norm(in_channels, out_channels, 1, norm, stride=stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


def _residual_stack(
    in_channels: int, out_channels: int, count: int, norm: NormType, *, stride: int = 1
) -> nn.Sequential:
    """``count`` residual blocks; the first one changes the stride and channels."""
    layers = [ResidualBlock(in_channels, out_channels, stride=stride, norm=norm)]
    layers += [ResidualBlock(out_channels, out_channels, norm=norm) for _ in range(count - 1)]
    return nn.Sequential(*layers)


class HourglassModule(nn.Module):
    """
    One hourglass, built recursively: at level 0 (``widths[0]`` channels, input resolution)

        out = skip(x) + upsample2x(up(inner(down(x))))

    - ``skip``: ``blocks[0]`` residual blocks at ``widths[0]``;
    - ``down``: ``blocks[0]`` residual blocks, the first with stride 2, to ``widths[1]``;
    - ``inner``: the hourglass of ``widths[1:]``, ``blocks[1:]`` or, at the last level,
      ``blocks[1]`` residual blocks at ``widths[1]``;
    - ``up``: ``blocks[0]`` residual blocks at ``widths[1]``, the last one back to
      ``widths[0]``, then nearest-neighbour upsampling.

    ``[N, widths[0], H, W] -> same``; H and W must be divisible by ``2 ** (len(widths) - 1)``.
    """

    def __init__(self, *, widths: Sequence[int], blocks: Sequence[int], norm: NormType):
        super().__init__()
        if len(widths) < 2 or len(blocks) != len(widths):
            raise ValueError(
                f"An hourglass needs >= 2 widths and as many block counts, got widths={widths}, "
                f"blocks={blocks}"
            )
        if min(blocks) < 1:
            raise ValueError(f"Every level needs at least one residual block, got {blocks}")
        width, inner_width, count = widths[0], widths[1], blocks[0]
        self.skip = _residual_stack(width, width, count, norm)
        self.down = _residual_stack(width, inner_width, count, norm, stride=2)
        if len(widths) > 2:
            self.inner = HourglassModule(widths=widths[1:], blocks=blocks[1:], norm=norm)
        else:
            self.inner = _residual_stack(inner_width, inner_width, blocks[1], norm)
        up = [ResidualBlock(inner_width, inner_width, norm=norm) for _ in range(count - 1)]
        up.append(ResidualBlock(inner_width, width, norm=norm))
        self.up = nn.Sequential(*up)

    def forward(self, x: Tensor) -> Tensor:
        low = self.up(self.inner(self.down(x)))
        return self.skip(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class Hourglass(Backbone):
    """
    Stacked hourglass backbone; outputs ``"hg1"`` .. ``"hg{num_stacks}"``, one feature map per
    stack, all ``[N, out_channels, H / 4, W / 4]``. Detectors supervise every stack in
    training and usually predict from the last one.

    Inputs must be padded to :attr:`size_divisibility` (``4 * 2 ** depth``; Detectron2's
    ``ImageList.from_tensors`` does it). More exactly, the stride-4 map after the stem must be
    divisible by ``2 ** depth``, so CornerNet's 511x511 crops also work (stem output 128x128).

    Hourglass-104 (187.7M parameters) is ``configs/CornerNet/models/cornernet.py``'s. A variant
    that trains on CPU (1.9M parameters): ``num_stacks=1, depth=3, stem_channels=32,
    widths=[64, 64, 96, 128], blocks=[1, 1, 1, 2], out_channels=64``.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_stacks: int,
        depth: int,
        stem_channels: int,
        widths: Sequence[int],
        blocks: Sequence[int],
        out_channels: int,
        norm: NormType = "BN",
    ):
        """
        Args:
            in_channels: image channels.
            num_stacks: number of hourglass modules (2 in Hourglass-104).
            depth: stride-2 downsamplings inside each hourglass (5 in Hourglass-104).
            stem_channels: channels of the stem's 7x7 conv (128).
            widths: ``depth + 1`` channel counts, one per resolution level; ``widths[0]`` is the
                width of the stem output and between stacks ([256, 256, 384, 384, 384, 512]).
            blocks: ``depth + 1`` residual-block counts per level and path; the last one is the
                middle of the hourglass ([2, 2, 2, 2, 2, 4]).
            out_channels: channels of every output feature (256).
            norm: ``get_norm`` name ("BN", "SyncBN", "GN", ...) or a callable of the channel
                count, e.g. ``anchorfree.compat.detectron2_fixes.group_norm``.
        """
        super().__init__()
        if num_stacks < 1 or depth < 1:
            raise ValueError(f"Need num_stacks >= 1 and depth >= 1, got {num_stacks}, {depth}")
        if len(widths) != depth + 1 or len(blocks) != depth + 1:
            raise ValueError(
                f"depth={depth} needs {depth + 1} widths and block counts, got widths={widths}, "
                f"blocks={blocks}"
            )
        self.depth = depth
        width = widths[0]
        self.stem = nn.Sequential(
            conv_norm(in_channels, stem_channels, 7, norm, stride=2, relu=True),
            ResidualBlock(stem_channels, width, stride=2, norm=norm),
        )
        self.hourglasses = nn.ModuleList(
            [HourglassModule(widths=widths, blocks=blocks, norm=norm) for _ in range(num_stacks)]
        )
        self.out_convs = nn.ModuleList(
            [conv_norm(width, out_channels, 3, norm, relu=True) for _ in range(num_stacks)]
        )
        # Joins between consecutive stacks (intermediate supervision).
        self.join_inputs = nn.ModuleList(
            [conv_norm(width, width, 1, norm) for _ in range(num_stacks - 1)]
        )
        self.join_outputs = nn.ModuleList(
            [conv_norm(out_channels, width, 1, norm) for _ in range(num_stacks - 1)]
        )
        self.join_blocks = nn.ModuleList(
            [ResidualBlock(width, width, norm=norm) for _ in range(num_stacks - 1)]
        )

        self._out_features = [f"hg{i + 1}" for i in range(num_stacks)]
        self._out_feature_channels = {name: out_channels for name in self._out_features}
        self._out_feature_strides = {name: STEM_STRIDE for name in self._out_features}

    @property
    def size_divisibility(self) -> int:
        return STEM_STRIDE * 2**self.depth

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """
        Args:
            x: ``[N, in_channels, H, W]`` images, H and W padded to :attr:`size_divisibility`.

        Returns:
            ``{"hg1": ..., "hg{num_stacks}": ...}``, each ``[N, out_channels, H / 4, W / 4]``.
        """
        x = self.stem(x)
        if x.shape[-2] % 2**self.depth or x.shape[-1] % 2**self.depth:
            raise ValueError(
                f"Hourglass input must be padded to a multiple of {self.size_divisibility}; its "
                f"stride-{STEM_STRIDE} map is {tuple(x.shape[-2:])}"
            )
        outputs: List[Tensor] = []
        for i, (hourglass, out_conv) in enumerate(zip(self.hourglasses, self.out_convs)):
            outputs.append(out_conv(hourglass(x)))
            if i < len(self.join_blocks):
                joined = self.join_inputs[i](x) + self.join_outputs[i](outputs[-1])
                x = self.join_blocks[i](F.relu(joined))
        return dict(zip(self._out_features, outputs))
