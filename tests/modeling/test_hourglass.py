"""Hourglass backbone: the small CPU variant's outputs on an odd-size padded input, the joins
between stacks, the LazyConfig's Hourglass-104 and small variant, and Hourglass-104's size
(built on the meta device, so no memory or time is spent on its 188M parameters)."""

import os

import pytest
import torch
from detector_testing import one_thread  # noqa: F401  (an autouse fixture)

from anchorfree.config import load_config
from anchorfree.modeling.backbones.hourglass import Hourglass

from detectron2.config import instantiate
from detectron2.layers import ShapeSpec
from detectron2.structures import ImageList

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HG104_CONFIG = os.path.join(REPO, "configs", "CornerNet", "cornernet_hourglass104.py")

SMALL = dict(depth=3, stem_channels=32, widths=[64, 64, 96, 128], blocks=[1, 1, 1, 2])
HG104 = dict(
    num_stacks=2,
    depth=5,
    stem_channels=128,
    widths=[256, 256, 384, 384, 384, 512],
    blocks=[2, 2, 2, 2, 2, 4],
    out_channels=256,
)


def conv_norm_params(kernel: int, c_in: int, c_out: int) -> int:
    """A bias-free conv followed by BatchNorm (weight and bias; running stats are buffers)."""
    return kernel * kernel * c_in * c_out + 2 * c_out


def residual_params(c_in: int, c_out: int, stride: int = 1) -> int:
    shortcut = conv_norm_params(1, c_in, c_out) if stride != 1 or c_in != c_out else 0
    return conv_norm_params(3, c_in, c_out) + conv_norm_params(3, c_out, c_out) + shortcut


def hourglass_params(widths, blocks) -> int:
    """One hourglass as described in the CornerNet paper: per level a skip, a down and an up
    path of ``blocks[0]`` residual blocks, and ``blocks[-1]`` blocks in the middle."""
    w0, w1, count = widths[0], widths[1], blocks[0]
    skip = count * residual_params(w0, w0)
    down = residual_params(w0, w1, stride=2) + (count - 1) * residual_params(w1, w1)
    if len(widths) > 2:
        inner = hourglass_params(widths[1:], blocks[1:])
    else:
        inner = blocks[1] * residual_params(w1, w1)
    up = (count - 1) * residual_params(w1, w1) + residual_params(w1, w0)
    return skip + down + inner + up


def backbone_params(num_stacks, depth, stem_channels, widths, blocks, out_channels) -> int:
    """The whole backbone; ``depth`` is implied by ``len(widths) - 1``."""
    stem = conv_norm_params(7, 3, stem_channels) + residual_params(stem_channels, widths[0], 2)
    stack = hourglass_params(widths, blocks) + conv_norm_params(3, widths[0], out_channels)
    join = (
        conv_norm_params(1, widths[0], widths[0])
        + conv_norm_params(1, out_channels, widths[0])
        + residual_params(widths[0], widths[0])
    )
    return stem + num_stacks * stack + (num_stacks - 1) * join


def test_small_variant_on_odd_size_padded_input():
    torch.manual_seed(0)
    backbone = Hourglass(num_stacks=1, out_channels=64, **SMALL)
    assert backbone.size_divisibility == 4 * 2**3
    images = ImageList.from_tensors(
        [torch.randn(3, 200, 249), torch.randn(3, 181, 203)], backbone.size_divisibility
    )
    assert tuple(images.tensor.shape[-2:]) == (224, 256)
    features = backbone(images.tensor)
    assert list(features) == ["hg1"]
    assert features["hg1"].shape == (2, 64, 56, 64)
    assert backbone.output_shape() == {"hg1": ShapeSpec(channels=64, stride=4)}


def test_two_stacks_and_join_gradients():
    """Each stack has an output; the second stack's output depends on the first stack
    through the join (its loss alone reaches the first hourglass)."""
    torch.manual_seed(0)
    backbone = Hourglass(num_stacks=2, out_channels=32, **SMALL)
    features = backbone(torch.randn(1, 3, 64, 96))
    assert list(features) == ["hg1", "hg2"]
    assert all(f.shape == (1, 32, 16, 24) for f in features.values())
    assert {s.stride for s in backbone.output_shape().values()} == {4}
    features["hg2"].square().mean().backward()
    first_stack = backbone.hourglasses[0].skip[0].conv1.weight.grad
    assert first_stack is not None and first_stack.abs().sum() > 0


def test_one_short_of_divisible_input_like_cornernet_511():
    """CornerNet feeds 511x511 crops: the stride-4 map (128 for depth 5) is what must divide."""
    backbone = Hourglass(num_stacks=1, out_channels=16, **SMALL)
    assert backbone(torch.randn(1, 3, 63, 95))["hg1"].shape == (1, 16, 16, 24)


def test_rejects_unpadded_input():
    backbone = Hourglass(num_stacks=1, out_channels=16, **SMALL)
    with pytest.raises(ValueError, match="multiple of 32"):
        backbone(torch.randn(1, 3, 48, 64))


def test_rejects_inconsistent_widths():
    with pytest.raises(ValueError, match="depth=3"):
        Hourglass(num_stacks=1, out_channels=16, **{**SMALL, "widths": [64, 64, 96]})


def test_hourglass104_size_and_shapes_from_config():
    """The LazyConfig's backbone is Hourglass-104: 187.7M parameters, the count of the paper's
    architecture (the paper's 201M for CornerNet adds the corner modules and heads); a 511x511
    input gives two 128x128 outputs (shapes only, on the meta device)."""
    backbone_cfg = load_config(HG104_CONFIG).model.backbone
    with torch.device("meta"):
        backbone = instantiate(backbone_cfg)
        features = backbone(torch.empty(1, 3, 511, 511))
    assert isinstance(backbone, Hourglass)
    num_params = sum(p.numel() for p in backbone.parameters())
    assert num_params == backbone_params(**HG104) == 187_700_352
    assert backbone.size_divisibility == 128
    assert {name: tuple(f.shape) for name, f in features.items()} == {
        "hg1": (1, 256, 128, 128),
        "hg2": (1, 256, 128, 128),
    }


def test_small_variant_from_config():
    backbone_cfg = load_config(HG104_CONFIG).model.backbone
    backbone_cfg.update(num_stacks=1, out_channels=64, **SMALL)
    backbone = instantiate(backbone_cfg)
    expected = backbone_params(num_stacks=1, out_channels=64, **SMALL)
    assert sum(p.numel() for p in backbone.parameters()) == expected
