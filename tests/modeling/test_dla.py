"""DLA-34 and CenterNet's DLAUp/IDAUp neck (anchorfree.modeling.backbones.dla): output shape and
stride on padded odd-sized images, the structure of the original's trees, the deformable convs'
start and offset layout, the bilinear start of the grouped deconvolutions, and the config."""

import os

import pytest
import torch
from detector_testing import one_thread  # noqa: F401  (an autouse fixture)
from torch.nn import functional as F

from anchorfree.config import load_config
from anchorfree.modeling.backbones.dla import (
    DLA,
    AggregationTree,
    DeformableConvNormReLU,
    DLAUpNeck,
    IDAUpStep,
)
from anchorfree.modeling.backbones.resnet_stride4 import ModulatedDeformConv3x3
from tools.parity.reference_ops import modulated_deform_conv2d_reference

from detectron2.config import instantiate
from detectron2.layers import ShapeSpec
from detectron2.structures import ImageList

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DLA34 = dict(levels=[1, 1, 1, 2, 2, 1], channels=[16, 32, 64, 128, 256, 512])


def test_dla34_neck_gives_one_stride4_map_of_a_padded_odd_sized_image():
    torch.manual_seed(0)
    neck = DLAUpNeck(bottom_up=DLA(**DLA34)).eval()
    assert neck.size_divisibility == 32
    assert neck.output_shape() == {"ida4": ShapeSpec(channels=64, stride=4)}
    images = ImageList.from_tensors([torch.randn(3, 200, 249)], neck.size_divisibility)
    assert images.tensor.shape == (1, 3, 224, 256)
    with torch.no_grad():
        out = neck(images.tensor)
    assert list(out) == ["ida4"] and out["ida4"].shape == (1, 64, 56, 64)


def test_every_parameter_is_used():
    """No parameter without a gradient (distributed training rejects them): unlike the
    original, the depth-2 trees have no projection whose output is discarded."""
    torch.manual_seed(0)
    narrow = DLAUpNeck(bottom_up=DLA(levels=DLA34["levels"], channels=[4, 8, 8, 16, 16, 32]))
    narrow(torch.randn(2, 3, 64, 96))["ida4"].sum().backward()
    assert [n for n, p in narrow.named_parameters() if p.grad is None] == []
    for k in (3, 4):
        tree = getattr(narrow.bottom_up, f"level{k}")
        assert tree.depth == 2 and not hasattr(tree, "project")


def test_dla34_trees_are_the_originals():
    dla = DLA(**DLA34)
    # Depths, and the widths of the roots: the children each one concatenates (the
    # original's root_dim: 2 out, + the level's input at level roots, + the first subtree).
    assert [getattr(dla, f"level{k}").depth for k in range(2, 6)] == [1, 2, 2, 1]
    roots = {
        name: module.root.conv.in_channels
        for name, module in dla.named_modules()
        if isinstance(module, AggregationTree) and module.depth == 1
    }
    assert roots == {
        "level2": 2 * 64,
        "level3.tree1": 2 * 128,
        "level3.tree2": 2 * 128 + 64 + 128,
        "level4.tree1": 2 * 256,
        "level4.tree2": 2 * 256 + 128 + 256,
        "level5": 2 * 512 + 256,
    }
    assert dla.level1[0].stride == (2, 2) and dla.stem.kernel_size == (7, 7)


def test_deformable_convs_start_as_regular_convs_with_taps_weighted_one_half():
    torch.manual_seed(0)
    step = IDAUpStep(6, 4, up_factor=2, norm="")
    x = torch.randn(2, 6, 5, 7)
    for layer in (step.project, step.node):
        assert isinstance(layer, DeformableConvNormReLU) and layer.norm is None
        assert not layer.conv.offset_mask.weight.any() and not layer.conv.offset_mask.bias.any()
    with torch.no_grad():
        conv = step.project.conv
        regular = F.conv2d(x, conv.weight, padding=1)
        torch.testing.assert_close(step.project(x), F.relu(regular / 2 + conv.bias[:, None, None]))


def test_offset_mask_channels_are_the_originals_chunks():
    """The original's DCN: ``o1, o2, mask = chunk(conv_offset_mask(x), 3)``, offsets
    ``cat(o1, o2)``, ``sigmoid(mask)``, into DCNv2 (the reference op): the same as
    ModulatedDeformConv3x3 with the offset/mask conv copied unchanged."""
    torch.manual_seed(0)
    dcn = ModulatedDeformConv3x3(4, 5, bias=True).double()
    with torch.no_grad():  # offsets of a few pixels, some reading outside the image
        dcn.offset_mask.weight.normal_(0, 0.5)
        dcn.offset_mask.bias.normal_(0, 1.0)
        dcn.bias.normal_()
    x = torch.randn(2, 4, 7, 9, dtype=torch.float64)
    with torch.no_grad():
        out = F.conv2d(x, dcn.offset_mask.weight, dcn.offset_mask.bias, padding=1)
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        mask = torch.sigmoid(mask)
        assert offset.abs().max() > 2
        expected = modulated_deform_conv2d_reference(
            x, offset, mask, dcn.weight, dcn.bias, padding=(1, 1)
        )
        torch.testing.assert_close(dcn(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("factor", [2, 4])
def test_grouped_deconvolution_starts_as_bilinear_upsampling(factor):
    step = IDAUpStep(3, 3, up_factor=factor, norm="")
    up = step.upsample
    assert up.groups == 3 and up.weight.shape == (3, 1, 2 * factor, 2 * factor)
    assert up.bias is None
    x = torch.randn(2, 3, 6, 5)
    expected = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    border = factor // 2  # where interpolation clamps to the edge and the deconv pads zeros
    inside = (..., slice(border, -border), slice(border, -border))
    with torch.no_grad():
        assert up(x).shape == expected.shape
        torch.testing.assert_close(up(x)[inside], expected[inside])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="out_features must be among"):
        DLA(**DLA34, out_features=["res5"])
    with pytest.raises(ValueError, match="strides 4, 8, 16"):
        DLAUpNeck(bottom_up=DLA(**DLA34), in_features=["level3", "level4", "level5"])
    with pytest.raises(ValueError, match="even factor"):
        IDAUpStep(3, 3, up_factor=3, norm="")


def test_centernet_dla34_2x_config():
    cfg = load_config(os.path.join(REPO, "configs", "CenterNet", "centernet_dla34_2x.py"))
    model = instantiate(cfg.model)
    assert isinstance(model.backbone, DLAUpNeck) and isinstance(model.backbone.bottom_up, DLA)
    assert model.head_in_features == ["ida4"] and model.num_classes == 80
    assert [branch[0].out_channels for branch in model.head.heatmap] == [256]
    # The original's input: BGR, normalized by its COCO statistics.
    assert cfg.dataloader.test.mapper.image_format == "BGR"
    torch.testing.assert_close(
        model.pixel_mean.flatten(), torch.tensor([0.40789654, 0.44719302, 0.47026115]) * 255
    )
    # Adam 5e-4, batch 128, 230 epochs of train2017 with drops at 180 and 210.
    epoch = 118287 / 128
    assert cfg.optimizer._target_.__name__ == "Adam" and cfg.optimizer.lr == 5e-4
    assert cfg.dataloader.train.total_batch_size == 128
    assert cfg.train.max_iter == round(230 * epoch)
    assert cfg.lr_multiplier.milestones == [round(180 * epoch), round(210 * epoch)]
