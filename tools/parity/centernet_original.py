"""
Import xingyizhou/CenterNet's network modules (``src/lib/models/networks/*.py``) from a checkout
of its source, with :func:`.reference_ops.modulated_deform_conv2d_reference` standing in for
the compiled DCNv2 (``DCNv2/dcn_v2_func.py`` is all that needs compiling; the ``DCN`` module
in ``dcn_v2.py``, with its offset/mask split, runs as published).
"""

import importlib
import os
import sys
from types import ModuleType

from torch.nn.modules.utils import _pair

from .reference_ops import modulated_deform_conv2d_reference, stub_module

__all__ = ["import_centernet_network"]


class ReferenceDCNv2Function:
    """The original's ``DCNv2Function(stride, padding, dilation, deformable_groups)``, called
    with ``(input, offset, mask, weight, bias)``, for one deformable group."""

    def __init__(self, stride, padding, dilation=1, deformable_groups=1):
        if deformable_groups != 1:
            raise NotImplementedError("the released CenterNet models use one deformable group")
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)

    def __call__(self, input, offset, mask, weight, bias):
        return modulated_deform_conv2d_reference(
            input, offset, mask, weight, bias, self.stride, self.padding, self.dilation
        )


class NoDCNv2Pooling:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("DCNv2 pooling is not used by the CenterNet detectors")


def import_centernet_network(source_root: str, network: str) -> ModuleType:
    """``models.networks.<network>`` (e.g. ``"pose_dla_dcn"``, ``"resnet_dcn"``,
    ``"large_hourglass"``) of the CenterNet checkout at ``source_root``."""
    lib = os.path.join(os.path.abspath(source_root), "src", "lib")
    if not os.path.isdir(os.path.join(lib, "models", "networks")):
        raise FileNotFoundError(f"{source_root} is not a checkout of xingyizhou/CenterNet")
    if lib not in sys.path:
        sys.path.insert(0, lib)
    stub_module(
        "models.networks.DCNv2.dcn_v2_func",
        DCNv2Function=ReferenceDCNv2Function,
        DCNv2PoolingFunction=NoDCNv2Pooling,
    )
    return importlib.import_module(f"models.networks.{network}")
