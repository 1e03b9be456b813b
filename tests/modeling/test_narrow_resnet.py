"""anchorfree.modeling.backbones.narrow_resnet: ResNet stages of any width in Detectron2's
ResNet, FPN and FPNP2."""

import pytest
import torch

from anchorfree.modeling.backbones.narrow_resnet import narrow_resnet_stages
from anchorfree.modeling.backbones.resnet_stride4 import FPNP2

from detectron2.modeling.backbone import BasicStem, ResNet
from detectron2.modeling.backbone.resnet import BasicBlock


def _resnet(widths, out_features):
    return ResNet(
        BasicStem(3, widths[0], norm="BN"),
        narrow_resnet_stages(widths, norm="BN"),
        out_features=out_features,
    )


def test_stages_have_the_given_widths_and_strides():
    widths = [16, 24, 40, 64]
    names = ["res2", "res3", "res4", "res5"]
    resnet = _resnet(widths, names).eval()
    shapes = resnet.output_shape()
    assert [shapes[n].channels for n in names] == widths
    assert [shapes[n].stride for n in names] == [4, 8, 16, 32]
    stages = narrow_resnet_stages(widths, num_blocks=[1, 2, 3, 1])
    assert [len(s) for s in stages] == [1, 2, 3, 1]
    assert all(isinstance(b, BasicBlock) for s in stages for b in s)
    # Only the first block of res3..res5 is strided.
    assert [b.stride for b in stages[2]] == [2, 1, 1]
    assert stages[0][0].stride == 1
    with torch.no_grad():
        out = resnet(torch.randn(2, 3, 96, 128))
    assert out["res2"].shape == (2, 16, 24, 32) and out["res5"].shape == (2, 64, 3, 4)


def test_ResNet18_widths_build_the_torchvision_ResNet18_parameter_count():
    resnet = _resnet([64, 128, 256, 512], ["res5"])
    body = sum(p.numel() for n, p in resnet.named_parameters() if not n.startswith("stem"))
    reference = ResNet(
        BasicStem(3, 64, norm="BN"),
        ResNet.make_default_stages(depth=18, norm="BN"),
        out_features=["res5"],
    )
    assert body == sum(
        p.numel() for n, p in reference.named_parameters() if not n.startswith("stem")
    )


def test_a_stem_of_another_width_and_fpn_p2():
    resnet = ResNet(
        BasicStem(3, 8, norm="BN"),
        narrow_resnet_stages([16, 32, 64, 128], stem_channels=8, norm="BN"),
        out_features=["res2", "res3", "res4", "res5"],
    )
    neck = FPNP2(bottom_up=resnet, in_features=["res2", "res3", "res4", "res5"], out_channels=32)
    with torch.no_grad():
        assert neck(torch.randn(1, 3, 64, 64))["p2"].shape == (1, 32, 16, 16)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        narrow_resnet_stages([16, 32], num_blocks=[2, 2, 2])
