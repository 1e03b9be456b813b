"""
Backbones with a single stride-4 output, for the heatmap detectors (CenterNet, CornerNet).

* :class:`UpsamplingNeck` (output ``"up4"``): a bottom-up network (ResNet) followed by three
  stages of ``conv 3x3 -> norm -> ReLU -> deconv 4x4 stride 2 -> norm -> ReLU`` that bring the
  stride-32 ``res5`` back to stride 4, as in "Objects as Points" (Zhou et al. 2019, Sec. 6:
  channels 256, 128, 64; the 3x3 convs deformable; the deconvolutions initialized to bilinear
  interpolation).
* :class:`FPNP2` (output ``"p2"``): Detectron2's FPN top-down pathway over ``res2..res5``,
  keeping only the finest level P2. Its parameter names are those of Detectron2's ``FPN``
  (``fpn_lateral{2..5}``, ``fpn_output2``), so FPN checkpoints load into it.

Both are Detectron2 ``Backbone``s: ``forward(images)`` takes ``[N, 3, H, W]`` with ``H`` and
``W`` divisible by ``size_divisibility`` (32; ``ImageList.from_tensors`` pads to it) and returns
``{name: [N, C, H/4, W/4]}``. Output cell ``(i, j)`` covers input pixels
``[4j, 4j + 4) x [4i, 4i + 4)``.
"""

import math
from typing import Callable, Dict, List, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.ops import deform_conv2d

from detectron2.layers import get_norm
from detectron2.modeling.backbone import FPN, Backbone

__all__ = [
    "FPNP2",
    "ModulatedDeformConv3x3",
    "UpsamplingNeck",
    "bilinear_upsampling_weight",
]

OUTPUT_STRIDE = 4

NormType = Union[str, Callable[[int], nn.Module]]


class ModulatedDeformConv3x3(nn.Module):
    """
    A 3x3 modulated deformable convolution (DCNv2, Zhu et al. 2019) through
    ``torchvision.ops.deform_conv2d``, stride 1, padding 1. A regular 3x3 conv predicts, per
    output cell, 2 offsets and 1 modulation logit for each of the 9 taps. It starts at zero, so
    the layer starts as a regular 3x3 convolution with every tap weighted ``sigmoid(0) = 0.5``.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's default
        self.offset_mask = nn.Conv2d(in_channels, 3 * 9, kernel_size=3, padding=1)
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)

    def forward(self, x: Tensor) -> Tensor:
        offset_y_x, mask = self.offset_mask(x).split([2 * 9, 9], dim=1)
        return deform_conv2d(
            x, offset_y_x, self.weight, self.bias, padding=(1, 1), mask=torch.sigmoid(mask)
        )


def bilinear_upsampling_weight(channels: int, kernel_size: int = 4) -> Tensor:
    """
    The ``[channels, channels, k, k]`` weight of a ``ConvTranspose2d`` with stride ``k // 2``
    that upsamples every channel on its own by bilinear interpolation: channel ``c`` maps to
    channel ``c`` only, with the kernel ``K[i] K[j]``, ``K[i] = 1 - |i / f - center|``,
    ``f = ceil(k / 2)``, ``center = (2f - 1 - f % 2) / (2f)``. For ``k = 4`` (stride 2,
    padding 1): ``K = [1/4, 3/4, 3/4, 1/4]``, i.e. ``F.interpolate(scale_factor=2,
    mode="bilinear", align_corners=False)`` away from the border.
    """
    factor = math.ceil(kernel_size / 2)
    center = (2 * factor - 1 - factor % 2) / (2 * factor)
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float32) / factor - center).abs()
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    index = torch.arange(channels)
    weight[index, index] = taps[:, None] * taps[None, :]
    return weight


class UpsamplingNeck(Backbone):
    """
    ``bottom_up`` (e.g. a ResNet with ``out_features=["res5"]``) followed by one upsampling
    stage per entry of ``channels``: ``conv 3x3 (deformable or not) -> norm -> ReLU ->
    ConvTranspose 4x4 stride 2 (bilinear init) -> norm -> ReLU``. Each stage halves the stride,
    which must end at 4 (three stages from ``res5``). Output ``"up4"``, ``channels[-1]`` wide.
    """

    def __init__(
        self,
        *,
        bottom_up: Backbone,
        in_feature: str = "res5",
        channels: Sequence[int] = (256, 128, 64),
        deformable: bool = True,
        norm: NormType = "BN",
        conv_bias: bool = False,
    ):
        """
        Args:
            bottom_up: the bottom-up network; must output ``in_feature``.
            in_feature: the bottom-up feature to upsample.
            channels: output channels of each stage (256, 128, 64 in the paper).
            deformable: the 3x3 convs are modulated deformable convs (the paper) or regular.
            norm: ``get_norm`` name of the stages' norms ("BN", "SyncBN", "GN", "" for none),
                or a callable of the channel count.
            conv_bias: the 3x3 convs have a bias even when a norm follows (the original
                CenterNet's DCN always has one, so its checkpoints hold it); without a norm
                every conv has a bias anyway.
        """
        super().__init__()
        shape = bottom_up.output_shape()[in_feature]
        if shape.stride != OUTPUT_STRIDE * 2 ** len(channels):
            raise ValueError(
                f"{len(channels)} upsampling stages take '{in_feature}' (stride {shape.stride}) "
                f"to stride {shape.stride / 2 ** len(channels):g}; the output must have stride "
                f"{OUTPUT_STRIDE}"
            )
        self.bottom_up = bottom_up
        self.in_feature = in_feature
        use_bias = norm == ""
        conv_has_bias = use_bias or conv_bias
        stages: List[nn.Module] = []
        in_channels = shape.channels
        for out_channels in channels:
            if deformable:
                conv = ModulatedDeformConv3x3(in_channels, out_channels, bias=conv_has_bias)
            else:
                conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=conv_has_bias)
            # Padding 1 with a 4x4 kernel at stride 2 gives exactly twice the input size.
            up = nn.ConvTranspose2d(
                out_channels, out_channels, 4, stride=2, padding=1, bias=use_bias
            )
            with torch.no_grad():
                up.weight.copy_(bilinear_upsampling_weight(out_channels, 4))
            layers = [conv, get_norm(norm, out_channels), nn.ReLU(inplace=True)]
            layers += [up, get_norm(norm, out_channels), nn.ReLU(inplace=True)]
            stages.append(nn.Sequential(*[m for m in layers if m is not None]))
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self._size_divisibility = shape.stride
        self._out_features = ["up4"]
        self._out_feature_channels = {"up4": in_channels}
        self._out_feature_strides = {"up4": OUTPUT_STRIDE}

    @property
    def size_divisibility(self) -> int:
        return self._size_divisibility

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        return {"up4": self.stages(self.bottom_up(x)[self.in_feature])}


class FPNP2(FPN):
    """
    Detectron2's FPN over ``in_features`` (finest stride 4, e.g. ``res2..res5``) that computes
    and returns only P2 (``"p2"``): the lateral 1x1 convs and the top-down pathway, then the 3x3
    output conv of the finest level. The coarser levels' output convs are not built, so no
    parameter goes unused (which distributed training would reject).
    """

    def __init__(
        self,
        *,
        bottom_up: Backbone,
        in_features: Sequence[str],
        out_channels: int,
        norm: str = "",
        fuse_type: str = "sum",
    ):
        """
        Args:
            bottom_up: e.g. a ResNet with ``out_features=["res2", "res3", "res4", "res5"]``.
            in_features: bottom-up features, finest first, strides contiguous powers of 2,
                the finest of stride 4.
            out_channels, norm, fuse_type: as Detectron2's ``FPN``.
        """
        super().__init__(bottom_up, list(in_features), out_channels, norm, None, fuse_type)
        finest = bottom_up.output_shape()[in_features[0]].stride
        if finest != OUTPUT_STRIDE:
            raise ValueError(
                f"FPNP2 needs a finest input of stride 4, '{in_features[0]}' has {finest}"
            )
        for name in in_features[1:]:
            stride = bottom_up.output_shape()[name].stride
            delattr(self, f"fpn_output{int(math.log2(stride))}")
        # FPN keeps its convs coarsest first.
        self.output_convs = self.output_convs[-1:]
        self._out_features = ["p2"]
        self._out_feature_strides = {"p2": OUTPUT_STRIDE}
        self._out_feature_channels = {"p2": out_channels}

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        bottom_up_features = self.bottom_up(x)
        names = self.in_features[::-1]
        top_down = self.lateral_convs[0](bottom_up_features[names[0]])
        for name, lateral_conv in zip(names[1:], self.lateral_convs[1:]):
            top_down = F.interpolate(top_down, scale_factor=2.0, mode="nearest") + lateral_conv(
                bottom_up_features[name]
            )
            if self._fuse_type == "avg":
                top_down = top_down / 2
        return {"p2": self.output_convs[0](top_down)}
