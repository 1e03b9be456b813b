"""
The CornerNet head (Law & Deng, ECCV 2018, Fig. 7): per corner type, a corner-pooling module,
then three prediction branches (3x3 conv, ReLU, 1x1 conv): the class heatmap, a 1-d
associative embedding and a 2-d sub-cell offset.
"""

from typing import NamedTuple

from torch import Tensor, nn

from anchorfree.modeling.layers import prediction_branch

from .corner_pooling import CornerPooling

__all__ = ["CornerHead", "CornerNetHead", "CornerPredictions"]


class CornerPredictions(NamedTuple):
    """One head's outputs on the stride-``s`` output grid; a cell ``(x, y)`` covers input pixels
    ``[x*s, (x+1)*s)``. Offsets are ``(x, y)`` in cells, added to the cell index."""

    tl_heatmap: Tensor  # [N, C, H, W] top-left corner logits
    br_heatmap: Tensor  # [N, C, H, W] bottom-right corner logits
    tl_embedding: Tensor  # [N, 1, H, W]
    br_embedding: Tensor  # [N, 1, H, W]
    tl_offset: Tensor  # [N, 2, H, W]
    br_offset: Tensor  # [N, 2, H, W]


class CornerHead(nn.Module):
    """Corner pooling and the three branches for one corner type ("top_left"/"bottom_right")."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        corner: str,
        pool_channels: int = 128,
        branch_channels: int = 256,
        norm: str = "BN",
        heatmap_bias: float = -2.19,
    ):
        """
        Args:
            in_channels: channels of the input feature map (kept by corner pooling).
            num_classes: heatmap channels.
            corner: "top_left" or "bottom_right".
            pool_channels: channels of the two pooled branches inside corner pooling.
            branch_channels: channels of the 3x3 conv of each prediction branch.
            norm: normalization inside corner pooling (a ``get_norm`` name).
            heatmap_bias: initial heatmap logit (-2.19: probability 0.1, as in the paper's code).
        """
        super().__init__()
        self.pool = CornerPooling(in_channels, corner, pool_channels=pool_channels, norm=norm)
        self.heatmap = prediction_branch(in_channels, branch_channels, num_classes)
        self.embedding = prediction_branch(in_channels, branch_channels, 1)
        self.offset = prediction_branch(in_channels, branch_channels, 2)
        nn.init.constant_(self.heatmap[-1].bias, heatmap_bias)

    def forward(self, x: Tensor):
        """``[N, in_channels, H, W]`` -> heatmap logits ``[N, C, H, W]``, embeddings
        ``[N, 1, H, W]``, offsets ``[N, 2, H, W]``."""
        pooled = self.pool(x)
        return self.heatmap(pooled), self.embedding(pooled), self.offset(pooled)


class CornerNetHead(nn.Module):
    """A top-left and a bottom-right :class:`CornerHead` on one feature map (one per hourglass
    stack: stacks do not share heads)."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        pool_channels: int = 128,
        branch_channels: int = 256,
        norm: str = "BN",
        heatmap_bias: float = -2.19,
    ):
        """Args: as :class:`CornerHead`."""
        super().__init__()
        self.num_classes = num_classes
        kwargs = dict(
            in_channels=in_channels,
            num_classes=num_classes,
            pool_channels=pool_channels,
            branch_channels=branch_channels,
            norm=norm,
            heatmap_bias=heatmap_bias,
        )
        self.top_left = CornerHead(corner="top_left", **kwargs)
        self.bottom_right = CornerHead(corner="bottom_right", **kwargs)

    def forward(self, x: Tensor) -> CornerPredictions:
        tl_heatmap, tl_embedding, tl_offset = self.top_left(x)
        br_heatmap, br_embedding, br_offset = self.bottom_right(x)
        return CornerPredictions(
            tl_heatmap=tl_heatmap,
            br_heatmap=br_heatmap,
            tl_embedding=tl_embedding,
            br_embedding=br_embedding,
            tl_offset=tl_offset,
            br_offset=br_offset,
        )
