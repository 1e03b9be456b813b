"""The FCOS head: classification and box towers shared across FPN levels, plus centerness."""

import math
from typing import Callable, List, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from detectron2.layers import ShapeSpec, get_norm

__all__ = ["AnchorFreeFCOSHead", "Scale"]

# exp() of the unnormalized box output is capped here (e^11 ~ 60k pixels) so that a diverging
# prediction gives a large finite loss instead of inf/NaN.
_MAX_LOG_BOX = 11.0


class Scale(nn.Module):
    """A learnable scalar multiplier (one per FPN level in FCOS)."""

    def __init__(self, init_value: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([float(init_value)]))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class AnchorFreeFCOSHead(nn.Module):
    """
    Two towers of ``len(conv_dims)`` x (conv 3x3, norm, ReLU), one for classification and one
    for box regression, shared by all levels; a 3x3 conv predicts per point ``num_classes``
    logits, the ``(l, t, r, b)`` box distances, and one centerness logit (from the box tower,
    or from the classification tower as in the first FCOS paper).

    Box output per level: ``relu(scale_l * x)``, in units of the level's stride, when
    ``norm_reg_targets`` (the improved FCOS; the postprocessor multiplies by the stride), else
    ``exp(scale_l * x)`` in pixels.
    """

    def __init__(
        self,
        *,
        input_shape: List[ShapeSpec],
        num_classes: int,
        conv_dims: List[int],
        norm: Union[str, Callable[[int], nn.Module]] = "GN",
        prior_prob: float = 0.01,
        centerness_on_reg: bool = True,
        norm_reg_targets: bool = True,
        use_scale: bool = True,
    ):
        """
        Args:
            input_shape: shape of each input level; all levels need the same channels.
            num_classes: number of foreground classes.
            conv_dims: output channels of each tower conv (the towers have this many convs).
            norm: ``get_norm`` name ("GN" = 32 groups, "" = none) or a callable of the channels.
            prior_prob: initial foreground probability of the classifier (bias init).
            centerness_on_reg: predict centerness from the box tower (else the cls tower).
            norm_reg_targets: box output ``relu`` in stride units (else ``exp`` in pixels).
            use_scale: a learnable scalar per level multiplies the box output.
        """
        super().__init__()
        channels = {s.channels for s in input_shape}
        if len(channels) != 1:
            raise ValueError(f"All FCOS head inputs need the same channels, got {sorted(channels)}")
        in_channels = channels.pop()
        self.num_classes = num_classes
        self.centerness_on_reg = centerness_on_reg
        self.norm_reg_targets = norm_reg_targets

        self.cls_subnet = self._tower(in_channels, conv_dims, norm)
        self.bbox_subnet = self._tower(in_channels, conv_dims, norm)
        last_dim = conv_dims[-1] if conv_dims else in_channels
        self.cls_score = nn.Conv2d(last_dim, num_classes, kernel_size=3, padding=1)
        self.bbox_pred = nn.Conv2d(last_dim, 4, kernel_size=3, padding=1)
        self.ctrness = nn.Conv2d(last_dim, 1, kernel_size=3, padding=1)
        num_levels = len(input_shape)
        self.scales = nn.ModuleList(
            [Scale(1.0) if use_scale else nn.Identity() for _ in range(num_levels)]
        )

        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 0.0)
        nn.init.constant_(self.cls_score.bias, -math.log((1 - prior_prob) / prior_prob))

    @staticmethod
    def _tower(in_channels: int, conv_dims: List[int], norm) -> nn.Sequential:
        layers = []
        for out_channels in conv_dims:
            norm_layer = norm(out_channels) if callable(norm) else get_norm(norm, out_channels)
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            if norm_layer is not None:
                layers.append(norm_layer)
            layers.append(nn.ReLU())
            in_channels = out_channels
        return nn.Sequential(*layers)

    def forward(self, features: List[Tensor]) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        """
        Args:
            features: per level, (N, C, H_l, W_l).

        Returns:
            Per level: class logits (N, num_classes, H_l, W_l), box distances (N, 4, H_l, W_l)
            (non-negative), centerness logits (N, 1, H_l, W_l).
        """
        if len(features) != len(self.scales):
            raise ValueError(
                f"AnchorFreeFCOSHead was built for {len(self.scales)} levels, got {len(features)}"
            )
        logits, box_reg, ctrness = [], [], []
        for feature, scale in zip(features, self.scales):
            cls_feature = self.cls_subnet(feature)
            box_feature = self.bbox_subnet(feature)
            logits.append(self.cls_score(cls_feature))
            ctrness.append(self.ctrness(box_feature if self.centerness_on_reg else cls_feature))
            box = scale(self.bbox_pred(box_feature))
            box_reg.append(
                F.relu(box) if self.norm_reg_targets else torch.exp(box.clamp(max=_MAX_LOG_BOX))
            )
        return logits, box_reg, ctrness
