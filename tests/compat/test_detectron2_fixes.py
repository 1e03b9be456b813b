import pytest
import torch
from torch import nn

import anchorfree  # noqa: F401
from anchorfree.compat.detectron2_fixes import group_norm

from detectron2.layers import ShapeSpec
from detectron2.modeling.meta_arch.fcos import FCOSHead
from detectron2.modeling.meta_arch.retinanet import RetinaNetHead


def test_group_norm_is_32_groups_for_real_layers():
    layer = group_norm(256)
    assert isinstance(layer, nn.GroupNorm) and layer.num_groups == 32 and layer.num_channels == 256


def test_group_norm_rejects_indivisible_widths():
    with pytest.raises(ValueError, match="divisible by 32"):
        group_norm(48)


@pytest.mark.parametrize("head_class", [RetinaNetHead, FCOSHead])
def test_detectron2_heads_build_with_group_norm(head_class):
    kwargs = dict(
        input_shape=[ShapeSpec(channels=64)] * 2, num_classes=3, conv_dims=[64, 64], norm=group_norm
    )
    if head_class is RetinaNetHead:
        kwargs["num_anchors"] = 9
    head = head_class(**kwargs)
    norms = [m for m in head.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 4 and all(n.num_groups == 32 for n in norms)
    outputs = head([torch.rand(1, 64, 8, 8), torch.rand(1, 64, 4, 4)])
    assert outputs[0][0].shape == (1, 3 * kwargs.get("num_anchors", 1), 8, 8)
