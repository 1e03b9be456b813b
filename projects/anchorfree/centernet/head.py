"""The CenterNet head: center heatmap, box size and center offset branches on a stride-4 map."""

from typing import List, NamedTuple

from torch import Tensor, nn

from anchorfree.modeling.layers import prediction_branch

from detectron2.layers import ShapeSpec

__all__ = ["CenterNetHead", "CenterNetOutputs"]


class CenterNetOutputs(NamedTuple):
    """Raw head outputs for one input feature map of ``N`` images, on its ``H x W`` grid."""

    heatmap: Tensor  # [N, C, H, W] logits of "an object of class c is centered in this cell"
    wh: Tensor  # [N, 2, H, W] box (width, height) in output-grid cells (input pixels / stride)
    offset: Tensor  # [N, 2, H, W] (x, y) of the center within its cell, in cells (in [0, 1))


class CenterNetHead(nn.Module):
    """
    Three branches per input feature map, each ``conv 3x3 (head_conv) -> ReLU -> conv 1x1``
    ("Objects as Points", Sec. 4): the class heatmap (``num_classes`` logits, final bias
    ``heatmap_bias``), the box size ``(w, h)`` and the center offset ``(x, y)`` (both linear,
    in output-grid cells).

    With several inputs (the stacks of an Hourglass backbone) every input gets its own
    branches, for intermediate supervision; they are not shared because the stacks' features
    differ.
    """

    def __init__(
        self,
        *,
        input_shape: List[ShapeSpec],
        num_classes: int,
        head_conv: int = 64,
        heatmap_bias: float = -2.19,
        regression_init_std: float = 0.001,
    ):
        """
        Args:
            input_shape: one per input feature map.
            num_classes: number of heatmap channels.
            head_conv: channels of each branch's 3x3 conv; 0 or less: no 3x3 conv.
            heatmap_bias: initial bias of the heatmap logits (-2.19: probability 0.1).
            regression_init_std: std of the normal init of the last conv of the size and
                offset branches (zero bias), so that those outputs start near 0.
        """
        super().__init__()
        self.num_classes = num_classes
        self.heatmap = nn.ModuleList()
        self.wh = nn.ModuleList()
        self.offset = nn.ModuleList()
        for shape in input_shape:
            self.heatmap.append(prediction_branch(shape.channels, head_conv, num_classes))
            self.wh.append(prediction_branch(shape.channels, head_conv, 2))
            self.offset.append(prediction_branch(shape.channels, head_conv, 2))
        for branch in [*self.wh, *self.offset]:
            nn.init.normal_(branch[-1].weight, std=regression_init_std)
            nn.init.zeros_(branch[-1].bias)
        for branch in self.heatmap:
            nn.init.constant_(branch[-1].bias, heatmap_bias)

    def forward(self, features: List[Tensor]) -> List[CenterNetOutputs]:
        """
        Args:
            features: one ``[N, C_in, H, W]`` map per input shape, in the same order.

        Returns:
            One :class:`CenterNetOutputs` per input.
        """
        if len(features) != len(self.heatmap):
            raise ValueError(
                f"CenterNetHead was built for {len(self.heatmap)} inputs, got {len(features)}"
            )
        return [self.predict(index, x) for index, x in enumerate(features)]

    def predict(self, index: int, feature: Tensor) -> CenterNetOutputs:
        """The outputs of the branches of input ``index`` alone (inference reads only the last
        input, and needs no other branch)."""
        return CenterNetOutputs(
            self.heatmap[index](feature), self.wh[index](feature), self.offset[index](feature)
        )

    @property
    def num_inputs(self) -> int:
        return len(self.heatmap)
