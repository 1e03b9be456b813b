"""Small layers shared by the backbones and heads: conv-norm(-ReLU) and a prediction branch."""

from typing import Callable, Union

from torch import nn
from torch.nn import functional as F

from detectron2.layers import Conv2d, get_norm

__all__ = ["NormType", "conv_norm", "prediction_branch"]

NormType = Union[str, Callable[[int], nn.Module]]


def conv_norm(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    norm: NormType,
    stride: int = 1,
    relu: bool = False,
) -> Conv2d:
    """A ``kernel_size`` conv ("same" padding) with ``norm`` (``get_norm``: a name, "" for
    none, or a callable of the channels; no bias when normalized) and an optional ReLU."""
    norm_layer = get_norm(norm, out_channels)
    return Conv2d(
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        bias=norm_layer is None,
        norm=norm_layer,
        activation=F.relu if relu else None,
    )


def prediction_branch(in_channels: int, mid_channels: int, out_channels: int) -> nn.Sequential:
    """``conv 3x3 (mid_channels) -> ReLU -> conv 1x1 (out_channels)``, the prediction branch of
    the heatmap detectors' heads; with ``mid_channels <= 0``, the 1x1 conv alone. The last
    layer is ``[-1]`` (for its initialization)."""
    if mid_channels <= 0:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1))
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid_channels, out_channels, kernel_size=1),
    )
