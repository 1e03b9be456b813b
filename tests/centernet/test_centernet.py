"""anchorfree.centernet and the stride-4 backbones on CPU: targets by hand and against a
one-object-at-a-time reference, the same-cell rule, losses on known values, decoding of known
peaks, flip-test symmetry, training edge cases (empty images, odd sizes, several head inputs),
the paper settings of the configs, the predictor, and an over-fit on embedded images evaluated
with COCOEvaluator.

Long because the slow references (per-object loops) live beside the tests that use them.
"""

import copy
import functools
import math
import os

import numpy as np
import pytest
import torch
from detector_testing import (  # noqa: F401  (one_thread: an autouse fixture)
    check_default_predictor,
    check_training_step,
    instances,
    odd_sized_batches,
    one_thread,
    overfit_set,
    random_input,
    train_until_ap50,
    two_object_batch,
)
from torch.nn import functional as F

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.centernet import (
    CenterNet,
    CenterNetHead,
    CenterNetOutputs,
    CenterNetPostprocessor,
    CenterNetTargetGenerator,
    CenterNetTargets,
    centernet_losses,
    merge_flipped,
)
from anchorfree.config import load_config
from anchorfree.data.synthetic_shapes import NUM_CLASSES
from anchorfree.modeling.backbones.resnet_stride4 import (
    FPNP2,
    ModulatedDeformConv3x3,
    UpsamplingNeck,
    bilinear_upsampling_weight,
)
from anchorfree.modeling.gaussian_targets import heatmap_radii

from detectron2.config import instantiate
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone
from detectron2.modeling.backbone import FPN, BasicStem, ResNet
from detectron2.modeling.backbone.resnet import BasicBlock

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CENTERNET_CONFIGS = os.path.join(REPO, "configs", "CenterNet")
SHAPES_LAZY = os.path.join(CENTERNET_CONFIGS, "centernet_R_18_shapes.py")
LOSS_KEYS = {"loss_centernet_hm", "loss_centernet_wh", "loss_centernet_offset"}
BGR_MEAN = [103.530, 116.280, 123.675]
BGR_STD = [57.375, 57.120, 58.395]
# Every parameter gets a finite gradient.
check_losses_and_gradients = functools.partial(
    check_training_step, loss_keys=LOSS_KEYS, every_parameter=True
)


# ------------------------------------------------------------------------------------------
# Targets
# ------------------------------------------------------------------------------------------


def test_hand_computed_targets():
    """
    64x64 image, stride 4: a 16x16 grid. Box (10, 6, 30, 40) -> (2.5, 1.5, 7.5, 10) in cells:
    w = 5, h = 8.5, center (5, 5.75), cell (5, 5), offset (0, 0.75). Published radius with
    overlap 0.7: min((13.5 + sqrt(152.25)) / 2, (27 + sqrt(525)) / 2,
    (-18.9 + sqrt(500.01)) / 2) = 1.73 -> 1 cell, sigma = 3 / 6: exp(-2) beside the center,
    exp(-4) on the diagonal, 0 further away.
    """
    generator = CenterNetTargetGenerator(num_classes=3, min_overlap=0.7, radius_formula="published")
    targets = generator((16, 16), 4, [instances([[10, 6, 30, 40]], [2])])
    expected = torch.zeros(1, 3, 16, 16)
    expected[0, 2, 4:7, 4:7] = torch.tensor(
        [[math.exp(-4), math.exp(-2), math.exp(-4)], [math.exp(-2), 1.0, math.exp(-2)]]
        + [[math.exp(-4), math.exp(-2), math.exp(-4)]]
    )
    torch.testing.assert_close(targets.heatmaps, expected)
    assert targets.image_index.tolist() == [0] and targets.cells.tolist() == [5 * 16 + 5]
    torch.testing.assert_close(targets.wh, torch.tensor([[5.0, 8.5]]))
    torch.testing.assert_close(targets.offset, torch.tensor([[0.0, 0.75]]))
    assert targets.num_objects == 1


def test_same_cell_rule_crowd_clipping_and_empty_images():
    generator = CenterNetTargetGenerator(num_classes=2)
    # Image 0: three objects centered in cell (4, 4) (pixels 16-20): a big class-0 box, a small
    # class-1 box, and a small class-0 box of the same area listed after it. All are drawn;
    # the small class-1 box (smallest area, listed first) regresses the size and offset.
    big, small, small_too = [2, 2, 34, 34], [14, 14, 22, 22], [15, 13, 23, 21]
    # Image 1: a crowd box (ignored), a box half outside the image (clipped to x1 = 40), and a
    # box entirely outside (no area left: skipped).
    crowd, clipped, outside = [0, 0, 20, 20], [24, 8, 56, 24], [50, 50, 60, 60]
    # Image 2: no objects.
    gt = [
        instances([big, small, small_too], [0, 1, 0]),
        instances([crowd, clipped, outside], [1, 0, 1], image_size=(40, 40), crowd=[1, 0, 0]),
        instances([], []),
    ]
    targets = generator((16, 16), 4, gt)
    heatmaps = targets.heatmaps
    assert heatmaps[0, 0, 4, 4] == 1 and heatmaps[0, 1, 4, 4] == 1
    assert targets.num_objects == 4  # 3 in image 0, the clipped one in image 1
    assert targets.image_index.tolist() == [0, 1]
    # Clipped box (24, 8, 40, 24) -> cells (6, 2, 10, 6): center (8, 4), w = 4, h = 4.
    assert targets.cells.tolist() == [4 * 16 + 4, 4 * 16 + 8]
    torch.testing.assert_close(targets.wh, torch.tensor([[2.0, 2.0], [4.0, 4.0]]))
    torch.testing.assert_close(targets.offset, torch.tensor([[0.5, 0.5], [0.0, 0.0]]))
    assert heatmaps[1, 0, 4, 8] == 1 and heatmaps[1, 0].eq(1).sum() == 1
    assert heatmaps[1, 1].max() == 0  # the crowd box and the box outside are not drawn
    assert heatmaps[2].max() == 0
    # Only empty images.
    empty = generator((16, 16), 4, [instances([], []), instances([], [])])
    assert empty.heatmaps.shape == (2, 2, 16, 16) and empty.heatmaps.max() == 0
    assert empty.num_objects == 0 and empty.wh.shape == (0, 2) and empty.cells.numel() == 0


def slow_targets(
    output_size, stride, boxes, classes, image_size, num_classes, min_overlap, formula
):
    """The rules of the module docstring, one object at a time, cell by cell. Returns the
    heatmap, ``{cell: (area, index, wh, offset)}`` of the regressed objects, and the number
    of objects drawn."""
    height, width = output_size
    heatmap = torch.zeros(num_classes, height, width)
    regressed = {}
    drawn = 0
    for index, ((x0, y0, x1, y1), c) in enumerate(zip(boxes, classes)):
        x0, x1 = (min(max(v, 0), image_size[1]) / stride for v in (x0, x1))
        y0, y1 = (min(max(v, 0), image_size[0]) / stride for v in (y0, y1))
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ix, iy = math.floor(cx), math.floor(cy)
        drawn += 1
        r = int(heatmap_radii(torch.tensor([h]), torch.tensor([w]), min_overlap, formula))
        sigma = (2 * r + 1) / 6
        for y in range(max(iy - r, 0), min(iy + r + 1, height)):
            for x in range(max(ix - r, 0), min(ix + r + 1, width)):
                value = math.exp(-((x - ix) ** 2 + (y - iy) ** 2) / (2 * sigma * sigma))
                heatmap[c, y, x] = max(heatmap[c, y, x].item(), value)
        cell = iy * width + ix
        if cell not in regressed or w * h < regressed[cell][0]:
            regressed[cell] = (w * h, index, [w, h], [cx - ix, cy - iy])
    return heatmap, regressed, drawn


@pytest.mark.parametrize("formula,min_overlap", [("published", 0.7), ("corrected", 0.3)])
def test_vectorized_targets_match_one_by_one_reference(formula, min_overlap):
    rng = np.random.default_rng(len(formula))
    height, width, stride = 200, 249, 4
    output_size = (56, 64)  # the 224x256 padded batch
    gts = []
    for n in [0, 1, 15, 60]:
        xy = rng.uniform(-0.1, 1.0, (n, 2)) * [width, height]  # some boxes leave the image
        wh = rng.uniform(0, 1, (n, 2)) ** 2 * 180 + 0.5
        # Multiples of 1/4 pixel: exact in float32 and float64, so both sides floor alike.
        boxes = np.round(np.concatenate([xy, xy + wh], axis=1) * 4) / 4
        if n == 60:
            boxes[1] = boxes[0]  # a duplicate: same cell, same area
            boxes[2] = boxes[0] + [-0.25, -0.25, 0.25, 0.25]  # same center, larger
        gts.append((boxes.tolist(), rng.integers(0, 5, n).tolist()))
    generator = CenterNetTargetGenerator(
        num_classes=5, min_overlap=min_overlap, radius_formula=formula
    )
    targets = generator(output_size, stride, [instances(b, c, (height, width)) for b, c in gts])
    num_objects = 0
    for image, (boxes, classes) in enumerate(gts):
        heatmap, regressed, drawn = slow_targets(
            output_size, stride, boxes, classes, (height, width), 5, min_overlap, formula
        )
        torch.testing.assert_close(targets.heatmaps[image], heatmap, atol=1e-6, rtol=0)
        mine = targets.image_index == image
        assert sorted(targets.cells[mine].tolist()) == sorted(regressed)
        order = targets.cells[mine].argsort()
        expected = [regressed[c] for c in sorted(regressed)]
        torch.testing.assert_close(
            targets.wh[mine][order], torch.tensor([e[2] for e in expected]).reshape(-1, 2)
        )
        torch.testing.assert_close(
            targets.offset[mine][order], torch.tensor([e[3] for e in expected]).reshape(-1, 2)
        )
        num_objects += drawn
    assert targets.num_objects == num_objects and targets.cells.numel() > 40  # not vacuous


# ------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------


def test_losses_on_known_values():
    """One 1x1x4x4 image with two regressed objects; the heatmap loss is the shared focal loss
    (tested in test_heatmap_targets.py), here checked for its normalization only."""
    heatmaps = torch.zeros(1, 1, 4, 4)
    heatmaps[0, 0, 1, 2] = heatmaps[0, 0, 3, 0] = 1
    targets = CenterNetTargets(
        heatmaps=heatmaps,
        image_index=torch.tensor([0, 0]),
        cells=torch.tensor([1 * 4 + 2, 3 * 4 + 0]),
        wh=torch.tensor([[3.0, 2.0], [1.0, 1.0]]),
        offset=torch.tensor([[0.5, 0.25], [0.0, 0.5]]),
        num_objects=2,
    )
    wh = torch.zeros(1, 2, 4, 4)
    wh[0, :, 1, 2] = torch.tensor([2.0, 2.5])  # |2 - 3| + |2.5 - 2| = 1.5
    wh[0, :, 3, 0] = torch.tensor([1.0, 1.0])  # 0
    offset = torch.zeros(1, 2, 4, 4)
    offset[0, :, 1, 2] = torch.tensor([0.5, 0.5])  # 0.25
    offset[0, :, 3, 0] = torch.tensor([1.0, 0.0])  # 1.5
    logits = torch.zeros(1, 1, 4, 4)
    outputs = CenterNetOutputs(logits, wh, offset)
    losses = centernet_losses(outputs, targets, wh_loss_weight=0.1, offset_loss_weight=1.0)
    assert set(losses) == LOSS_KEYS
    assert losses["loss_centernet_wh"].item() == pytest.approx(0.1 * 1.5 / 2)
    assert losses["loss_centernet_offset"].item() == pytest.approx(1.75 / 2)
    # At logit 0 (p = 1/2): 2 positives (1/2)^2 log 2 each, 14 negatives (1/2)^2 log 2 each
    # (targets 0), over 2 objects.
    assert losses["loss_centernet_hm"].item() == pytest.approx(16 * 0.25 * math.log(2) / 2)
    doubled = centernet_losses(outputs, targets, heatmap_loss_weight=2.0)
    assert doubled["loss_centernet_hm"].item() == pytest.approx(16 * 0.25 * math.log(2))
    # No objects: the L1 terms are 0, the heatmap loss is not divided (normalizer at least 1).
    empty = targets._replace(
        heatmaps=torch.zeros_like(heatmaps),
        image_index=torch.zeros(0, dtype=torch.long),
        cells=torch.zeros(0, dtype=torch.long),
        wh=torch.zeros(0, 2),
        offset=torch.zeros(0, 2),
        num_objects=0,
    )
    losses = centernet_losses(outputs, empty)
    assert losses["loss_centernet_wh"] == 0 and losses["loss_centernet_offset"] == 0
    assert losses["loss_centernet_hm"].item() == pytest.approx(16 * 0.25 * math.log(2))


# ------------------------------------------------------------------------------------------
# Decoding
# ------------------------------------------------------------------------------------------


def test_decode_three_known_peaks():
    """A 3-class 16x16 grid (64x64 image, stride 4) with three peaks and a suppressed
    neighbour; every other cell scores 0."""
    scores = torch.zeros(1, 3, 16, 16)
    wh = torch.zeros(1, 2, 16, 16)
    offset = torch.zeros(1, 2, 16, 16)
    # Class 0 at (x=2, y=3), 0.9, offset (0.5, 0.25), size (4, 2)
    #   -> center (2.5, 3.25) cells -> box (0.5, 2.25, 4.5, 4.25) cells x 4 = (2, 9, 18, 17).
    scores[0, 0, 3, 2], offset[0, :, 3, 2], wh[0, :, 3, 2] = (
        0.9,
        torch.tensor([0.5, 0.25]),
        torch.tensor([4.0, 2.0]),
    )
    scores[0, 0, 3, 3] = 0.7  # next to the 0.9 in the same class: suppressed
    # Class 2 at (x=10, y=7), 0.8, offset (0, 0.5), size (2, 3) -> (36, 24, 44, 36).
    scores[0, 2, 7, 10], offset[0, :, 7, 10], wh[0, :, 7, 10] = (
        0.8,
        torch.tensor([0.0, 0.5]),
        torch.tensor([2.0, 3.0]),
    )
    # Class 1 at (x=15, y=8), 0.5, size (6, 1), offset (0.75, 0)
    #   -> (15.75 -/+ 3, 8 -/+ 0.5) x 4 = (51, 30, 75, 34), clipped to x <= 64.
    scores[0, 1, 8, 15], offset[0, :, 8, 15], wh[0, :, 8, 15] = (
        0.5,
        torch.tensor([0.75, 0.0]),
        torch.tensor([6.0, 1.0]),
    )
    (result,) = CenterNetPostprocessor()(scores, wh, offset, 4, [(64, 64)])
    torch.testing.assert_close(
        result.pred_boxes.tensor,
        torch.tensor([[2.0, 9.0, 18.0, 17.0], [36.0, 24.0, 44.0, 36.0], [51.0, 30.0, 64.0, 34.0]]),
    )
    torch.testing.assert_close(result.scores, torch.tensor([0.9, 0.8, 0.5]))
    assert result.pred_classes.tolist() == [0, 2, 1] and result.image_size == (64, 64)
    # K = 2 keeps the two best; a threshold of 0.6 drops the 0.5.
    assert CenterNetPostprocessor(topk=2)(scores, wh, offset, 4, [(64, 64)])[
        0
    ].scores.tolist() == pytest.approx([0.9, 0.8])
    assert len(CenterNetPostprocessor(score_thresh=0.6)(scores, wh, offset, 4, [(64, 64)])[0]) == 2


def test_optional_class_aware_nms():
    """Two same-class peaks 2 cells apart with the same 40x40 box (IoU 2/3): both survive the
    max-pool, the NMS keeps the better one; a third box of another class at the same place
    stays."""
    scores = torch.zeros(1, 2, 16, 16)
    wh = torch.full((1, 2, 16, 16), 10.0)
    offset = torch.zeros(1, 2, 16, 16)
    scores[0, 0, 8, 6], scores[0, 0, 8, 8], scores[0, 1, 8, 7] = 0.9, 0.6, 0.5
    assert len(CenterNetPostprocessor()(scores, wh, offset, 4, [(64, 64)])[0]) == 3
    (result,) = CenterNetPostprocessor(nms=True, nms_thresh=0.5)(scores, wh, offset, 4, [(64, 64)])
    assert result.scores.tolist() == pytest.approx([0.9, 0.5]) and result.pred_classes.tolist() == [
        0,
        1,
    ]


def test_merge_flipped_on_known_values():
    scores = torch.arange(2 * 1 * 1 * 3, dtype=torch.float32).reshape(
        2, 1, 1, 3
    )  # [0 1 2], [3 4 5]
    wh = torch.stack([scores[:, 0], scores[:, 0] * 10], dim=1)
    offset = -wh
    merged_scores, merged_wh, merged_offset = merge_flipped(scores, wh, offset, 1)
    assert merged_scores.flatten().tolist() == [(0 + 5) / 2, (1 + 4) / 2, (2 + 3) / 2]
    assert merged_wh[0, 1, 0].tolist() == [25, 25, 25]
    assert torch.equal(merged_offset, offset[:1])
    with pytest.raises(ValueError, match="originals, then flipped"):
        merge_flipped(scores, wh, offset, 2)


# ------------------------------------------------------------------------------------------
# Backbones
# ------------------------------------------------------------------------------------------


def group_norm_8(channels):
    return torch.nn.GroupNorm(8, channels)


def small_resnet(width=16, out_features=("res5",), norm=group_norm_8):
    stages, in_channels = [], width
    for i, out_channels in enumerate([width, 2 * width, 4 * width, 8 * width]):
        stages.append(
            ResNet.make_stage(
                BasicBlock,
                2,
                in_channels=in_channels,
                out_channels=out_channels,
                stride_per_block=[1 if i == 0 else 2, 1],
                norm=norm,
            )
        )
        in_channels = out_channels
    return ResNet(
        stem=BasicStem(in_channels=3, out_channels=width, norm=norm),
        stages=stages,
        out_features=list(out_features),
    )


def test_bilinear_deconv_init_and_deformable_conv_start():
    up = torch.nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1, bias=False)
    up.weight.data.copy_(bilinear_upsampling_weight(3))
    x = torch.randn(2, 3, 7, 9)
    expected = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    with torch.no_grad():
        torch.testing.assert_close(up(x)[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1])
    # Zero offsets and modulation sigmoid(0) = 1/2: half a regular 3x3 conv at the start.
    dcn = ModulatedDeformConv3x3(3, 5)
    with torch.no_grad():
        regular = F.conv2d(x, dcn.weight, dcn.bias, padding=1)
        torch.testing.assert_close(
            dcn(x), regular / 2 + dcn.bias.view(1, -1, 1, 1) / 2, atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize("deformable", [False, True])
def test_upsampling_neck_and_fpn_p2_give_one_stride4_map(deformable):
    neck = UpsamplingNeck(
        bottom_up=small_resnet(), channels=[32, 16, 8], deformable=deformable, norm=group_norm_8
    )
    fpn = FPNP2(
        bottom_up=small_resnet(out_features=("res2", "res3", "res4", "res5")),
        in_features=["res2", "res3", "res4", "res5"],
        out_channels=12,
    )
    x = torch.randn(2, 3, 96, 160)  # padded to 32
    for backbone, name, channels in [(neck, "up4", 8), (fpn, "p2", 12)]:
        assert backbone.size_divisibility == 32
        assert backbone.output_shape() == {name: ShapeSpec(channels=channels, stride=4)}
        out = backbone(x)
        assert list(out) == [name] and out[name].shape == (2, channels, 24, 40)
        out[name].sum().backward()
        assert all(p.grad is not None for p in backbone.parameters())  # none unused (DDP)
    # FPNP2's parameters are named as in Detectron2's FPN (checkpoints load), minus the coarser
    # output convs.
    reference = FPN(
        bottom_up=small_resnet(out_features=("res2", "res3", "res4", "res5")),
        in_features=["res2", "res3", "res4", "res5"],
        out_channels=12,
    )
    unused = {
        k
        for k in reference.state_dict()
        if k.startswith(("fpn_output3", "fpn_output4", "fpn_output5"))
    }
    assert set(fpn.state_dict()) == set(reference.state_dict()) - unused
    fpn.load_state_dict({k: v for k, v in reference.state_dict().items() if k not in unused})
    with torch.no_grad():
        torch.testing.assert_close(fpn(x)["p2"], reference(x)["p2"])
    with pytest.raises(ValueError, match="must have stride 4"):
        UpsamplingNeck(bottom_up=small_resnet(), channels=[32, 16])


# ------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------


def small_model(num_classes=NUM_CLASSES, width=16, neck=(64, 32, 16), norm=group_norm_8, **kwargs):
    """ResNet-18 at a quarter (``width=16``) or half width + a narrower upsampling neck: the
    paper's structure at a size that trains in seconds on a CPU."""
    backbone = UpsamplingNeck(
        bottom_up=small_resnet(width, norm=norm), channels=list(neck), deformable=False, norm=norm
    )
    return CenterNet(
        backbone=backbone,
        head=CenterNetHead(
            input_shape=[ShapeSpec(channels=neck[-1])], num_classes=num_classes, head_conv=neck[-1]
        ),
        num_classes=num_classes,
        target_generator=CenterNetTargetGenerator(num_classes=num_classes),
        postprocessor=CenterNetPostprocessor(),
        pixel_mean=BGR_MEAN,
        pixel_std=BGR_STD,
        **kwargs,
    )


def test_training_with_empty_images():
    torch.manual_seed(0)
    model = small_model()
    empty = random_input(200, 249, [], [])
    losses = check_losses_and_gradients(model, [empty])
    assert losses["loss_centernet_wh"] == 0 and losses["loss_centernet_offset"] == 0
    assert losses["loss_centernet_hm"] > 0
    check_losses_and_gradients(
        model, [empty, random_input(131, 97, [[10, 20, 90, 120]], [3], seed=1)]
    )


@odd_sized_batches
def test_training_and_inference_batch_sizes_and_odd_image_sizes(sizes):
    torch.manual_seed(0)
    model = small_model()
    batch = two_object_batch(sizes)
    losses = check_losses_and_gradients(model, batch)
    assert losses["loss_centernet_wh"] > 0 and losses["loss_centernet_offset"] > 0
    model.eval()
    with torch.no_grad():
        # Detections rescaled to the requested output size (here twice the input).
        outputs = model(
            [
                {"image": x["image"], "height": 2 * x["height"], "width": 2 * x["width"]}
                for x in batch
            ]
        )
    assert len(outputs) == len(batch)
    for output, (h, w) in zip(outputs, sizes):
        result = output["instances"]
        assert result.image_size == (2 * h, 2 * w) and 0 < len(result) <= 100
        boxes = result.pred_boxes.tensor
        assert (
            (boxes[:, 0::2] <= 2 * w).all()
            and (boxes[:, 1::2] <= 2 * h).all()
            and (boxes >= 0).all()
        )
        assert ((result.scores > 0) & (result.scores < 1)).all()
        assert (result.scores[:-1] >= result.scores[1:]).all()


class _CapturingPostprocessor(CenterNetPostprocessor):
    def __call__(self, scores, wh, offset, stride, image_sizes):
        self.maps = (scores, wh, offset)
        return super().__call__(scores, wh, offset, stride, image_sizes)


def test_flip_test_is_symmetric():
    """With the flip test, an image and its mirror get mirrored heatmap scores and sizes (the
    width is a multiple of 32, so the padded input is the image itself). Equal up to float
    rounding: an image's features differ in the last bits with its place in the batch."""
    torch.manual_seed(0)
    model = small_model(flip_test=True)
    model.postprocessor = _CapturingPostprocessor()
    model.eval()
    image = random_input(96, 128, [], [])["image"]
    maps = []
    with torch.no_grad():
        for x in (image, image.flip(2)):
            model([{"image": x}])
            maps.append(model.postprocessor.maps)
    (scores, wh, _), (scores_m, wh_m, _) = maps
    torch.testing.assert_close(scores, scores_m.flip(3), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(wh, wh_m.flip(3), atol=1e-5, rtol=1e-5)
    # Without the flip test the scores are those of the image alone.
    model.flip_test = False
    with torch.no_grad():
        model([{"image": image}])
    assert not torch.allclose(model.postprocessor.maps[0], scores)


class _TwoStacks(Backbone):
    """Two stride-4 outputs, as an Hourglass with two stacks has."""

    def __init__(self):
        super().__init__()
        self.first = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.second = torch.nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        first = self.first(x)
        return {"hg1": first, "hg2": self.second(first)}

    def output_shape(self):
        return {name: ShapeSpec(channels=8, stride=4) for name in ("hg1", "hg2")}


def test_several_head_inputs_average_the_losses_and_decode_the_last():
    torch.manual_seed(0)
    head = CenterNetHead(input_shape=[ShapeSpec(channels=8)] * 2, num_classes=3, head_conv=8)
    model = CenterNet(
        backbone=_TwoStacks(),
        head=head,
        num_classes=3,
        target_generator=CenterNetTargetGenerator(num_classes=3),
        postprocessor=_CapturingPostprocessor(),
        pixel_mean=BGR_MEAN,
        pixel_std=BGR_STD,
    )
    assert model.head_in_features == ["hg1", "hg2"]
    batch = [random_input(64, 80, [[10, 10, 40, 30]], [1])]
    losses = check_losses_and_gradients(model, batch)
    images = model.preprocess_image(batch)
    features = model.backbone(images.tensor)
    outputs = head([features["hg1"], features["hg2"]])
    targets = model.target_generator((16, 20), 4, [batch[0]["instances"]])
    per_stack = [centernet_losses(o, targets) for o in outputs]
    for key in LOSS_KEYS:
        torch.testing.assert_close(losses[key], (per_stack[0][key] + per_stack[1][key]) / 2)
    model.eval()
    with torch.no_grad():
        model([{"image": batch[0]["image"]}])
    torch.testing.assert_close(model.postprocessor.maps[1], outputs[1].wh)


def test_inconsistent_numbers_of_classes_are_refused():
    with pytest.raises(ValueError, match="Numbers of classes disagree"):
        CenterNet(
            backbone=_TwoStacks(),
            head=CenterNetHead(input_shape=[ShapeSpec(channels=8)] * 2, num_classes=3),
            num_classes=3,
            target_generator=CenterNetTargetGenerator(num_classes=4),
            postprocessor=CenterNetPostprocessor(),
            pixel_mean=BGR_MEAN,
            pixel_std=BGR_STD,
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_and_inference_on_cuda():
    torch.manual_seed(0)
    model = small_model(flip_test=True).cuda()
    batch = [random_input(200, 249, [[5, 7, 150, 100]], [1]), random_input(131, 97, [], [])]
    losses = check_losses_and_gradients(model, batch)
    cpu_model = copy.deepcopy(model).cpu()
    cpu_losses = check_losses_and_gradients(cpu_model, batch)
    for key in LOSS_KEYS:
        assert losses[key].item() == pytest.approx(cpu_losses[key].item(), rel=1e-3, abs=1e-4)
    model.eval()
    with torch.no_grad():
        result = model([{"image": batch[0]["image"]}])[0]["instances"]
    assert result.pred_boxes.tensor.is_cuda and len(result) > 0


# ------------------------------------------------------------------------------------------
# Configs and the predictor
# ------------------------------------------------------------------------------------------


def test_paper_settings():
    cfg = load_config(os.path.join(CENTERNET_CONFIGS, "centernet_R_18_140e.py"))
    model = instantiate(cfg.model)
    neck = model.backbone
    assert isinstance(neck, UpsamplingNeck)
    assert [s[0].__class__ for s in neck.stages] == [ModulatedDeformConv3x3] * 3
    assert [s[3].out_channels for s in neck.stages] == [256, 128, 64]
    torch.testing.assert_close(neck.stages[0][3].weight, bilinear_upsampling_weight(256))
    # As the original's resnet_dcn.py: a bias in each DCN before its BN, none in the deconvs.
    assert all(s[0].bias is not None and s[3].bias is None for s in neck.stages)
    assert [branch[0].out_channels for branch in model.head.heatmap] == [64]
    torch.testing.assert_close(model.head.heatmap[0][-1].bias, torch.full((80,), -2.19))
    assert (model.target_generator.radius_formula, model.target_generator.min_overlap) == (
        "published",
        0.7,
    )
    assert (model.focal_loss_alpha, model.focal_loss_beta, model.prob_clamp) == (2.0, 4.0, 1e-4)
    assert (model.heatmap_loss_weight, model.wh_loss_weight, model.offset_loss_weight) == (
        1.0,
        0.1,
        1.0,
    )
    post = model.postprocessor
    assert (post.topk, post.score_thresh, post.peak_kernel, post.nms) == (100, 0.0, 3, False)
    # Adam 5e-4, batch 114, 140 epochs of train2017 with drops at 90 and 120.
    epoch = 118287 / 114
    assert cfg.optimizer._target_.__name__ == "Adam" and cfg.optimizer.lr == 5e-4
    assert cfg.train.max_iter == round(140 * epoch)
    assert cfg.lr_multiplier.milestones == [round(90 * epoch), round(120 * epoch)]


def test_default_predictor_through_get_predictor_cfg(tmp_path):
    check_default_predictor(
        SHAPES_LAZY, tmp_path, ["model.flip_test=True", "model.postprocessor.nms=True"]
    )


# ------------------------------------------------------------------------------------------
# Over-fit on embedded images
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_overfits_four_embedded_images(tmp_path):
    """The first 4 non-empty images of the tiny embedded split (31 objects, 8-218 px), no
    augmentation, the paper's targets, losses and decoding on ResNet-18 at half width with an
    upsampling neck of 128/64/32 channels, AdamW: AP50 >= 0.9 on those images within 140
    iterations (about 100 suffice, ~80 s on one core)."""
    data = overfit_set("anchorfree_centernet_test_overfit4", load_config(SHAPES_LAZY))
    torch.manual_seed(0)
    model = small_model(width=32, neck=(128, 64, 32), norm="GN")
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    scores = train_until_ap50(
        model, optimizer, 2e-3, data, str(tmp_path), max_iter=140, eval_every=20, eval_from=80
    )
    assert scores[-1] >= 90, scores
