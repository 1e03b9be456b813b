"""
Workarounds for Detectron2 v0.6 bugs that this project's configs would otherwise hit.
Each is a plain value to put in a config; none patches Detectron2.
"""

from torch import nn

# Paper setting of FCOS/RetinaNet heads with GroupNorm: 32 groups.
GROUP_NORM_GROUPS = 32


def group_norm(num_channels: int) -> nn.GroupNorm:
    """
    ``GroupNorm(32, num_channels)``, usable as the ``norm`` of Detectron2's ``RetinaNetHead`` /
    ``FCOSHead``.

    v0.6's ``RetinaNetHead`` probes the norm type with ``get_norm(norm, 1)``, and
    ``nn.GroupNorm(32, 1)`` raises on torch >= 1.12, so ``norm="GN"`` cannot build those heads.
    With this callable that one-channel probe gets ``GroupNorm(1, 1)`` while every real layer
    gets exactly ``GroupNorm(32, C)``.
    """
    if num_channels == 1:
        return nn.GroupNorm(1, 1)
    if num_channels % GROUP_NORM_GROUPS != 0:
        raise ValueError(
            f"GroupNorm with {GROUP_NORM_GROUPS} groups needs a channel count divisible by "
            f"{GROUP_NORM_GROUPS}, got {num_channels}"
        )
    return nn.GroupNorm(GROUP_NORM_GROUPS, num_channels)
