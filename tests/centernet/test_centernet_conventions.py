"""CenterNet's switches to the original implementation's conventions (xingyizhou/CenterNet
``src/lib/datasets/sample/ctdet.py``, ``src/lib/models/losses.py``, ``models/decode.py``): on
hand cases, each reproduces the value of the original's formula, written here as plain
arithmetic, and the defaults keep this project's."""

import math

import pytest
import torch
from detector_testing import instances, one_thread  # noqa: F401  (one_thread: autouse)

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
from anchorfree.centernet import (
    CenterNetOutputs,
    CenterNetPostprocessor,
    CenterNetTargetGenerator,
    boxes_from_centers,
    centernet_losses,
)

STRIDE = 4
GRID = (16, 16)  # a 64 x 64 image


def original_gaussian_radius(height, width, min_overlap=0.7):
    """The original's ``gaussian_radius((height, width), min_overlap)``, as plain arithmetic."""
    a1, b1 = 1, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def targets_of(boxes, classes, **options):
    generator = CenterNetTargetGenerator(num_classes=3, **options)
    return generator(GRID, STRIDE, [instances(boxes, classes, (64, 64))])


def drawn_radius(heatmap_row):
    """Half the width, less the centre, of the non-zero run of a heatmap row."""
    return (int((heatmap_row > 0).sum()) - 1) // 2


def test_radius_from_the_rounded_up_size():
    # 37 x 22 pixels: 9.25 x 5.5 cells, centre (5.625, 3.75) in cell (5, 3).
    box, radius_of = [[4.0, 4.0, 41.0, 26.0]], original_gaussian_radius
    ours = targets_of(box, [1])
    original = targets_of(box, [1], radius_from_ceiled_size=True)
    assert drawn_radius(ours.heatmaps[0, 1, 3]) == int(radius_of(5.5, 9.25)) == 1
    assert drawn_radius(original.heatmaps[0, 1, 3]) == int(radius_of(6, 10)) == 2
    # The size targets stay unrounded.
    assert original.wh.tolist() == [[9.25, 5.5]]


def test_clip_to_the_last_cell():
    # x from 40 to 70 px in a 64-px image: cells 10 .. 17.5; ours clips to 16 (the edge), the
    # original to 16 - 1 = 15 (``np.clip(bbox, 0, output_w - 1)``): width 5, centre 12.5.
    box = [[40.0, 8.0, 70.0, 24.0]]
    ours = targets_of(box, [0])
    original = targets_of(box, [0], clip_to_last_cell=True)
    assert ours.wh.tolist() == [[6.0, 4.0]] and original.wh.tolist() == [[5.0, 4.0]]
    assert ours.cells.tolist() == [4 * 16 + 13] and original.cells.tolist() == [4 * 16 + 12]
    assert ours.offset.tolist() == [[0.0, 0.0]] and original.offset.tolist() == [[0.5, 0.0]]
    # Negative coordinates clip to 0 either way.
    left = targets_of([[-8.0, 8.0, 8.0, 24.0]], [0], clip_to_last_cell=True)
    assert left.wh.tolist() == [[2.0, 4.0]]


def test_every_same_cell_object_regresses_as_the_original():
    # Both centred on pixel (16, 16), cell (4, 4): 4 x 4 and 6 x 6 cells.
    boxes = [[8.0, 8.0, 24.0, 24.0], [4.0, 4.0, 28.0, 28.0]]
    ours = targets_of(boxes, [0, 2])
    original = targets_of(boxes, [0, 2], same_cell="all")
    assert ours.wh.tolist() == [[4.0, 4.0]]
    assert original.wh.tolist() == [[4.0, 4.0], [6.0, 6.0]]
    assert original.cells.tolist() == [4 * 16 + 4] * 2
    assert original.num_objects == ours.num_objects == 2
    with pytest.raises(ValueError, match="same_cell"):
        CenterNetTargetGenerator(num_classes=3, same_cell="largest")


def original_focal_sum(logits, gt):
    """The numerator of the original's ``_neg_loss``: sum of the positive and negative terms
    (the sigmoid clamped to [1e-4, 1 - 1e-4], its ``_sigmoid``)."""
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    pos_loss = (torch.log(pred) * (1 - pred) ** 2 * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred**2 * (1 - gt) ** 4 * (1 - pos)).sum()
    return -(pos_loss + neg_loss)


def test_focal_loss_over_the_number_of_peaks():
    # Two class-0 objects on one centre cell (one peak) and a class-1 object elsewhere: three
    # objects, two peaks.
    boxes = [[8.0, 8.0, 24.0, 24.0], [4.0, 4.0, 28.0, 28.0], [36.0, 36.0, 52.0, 52.0]]
    targets = targets_of(boxes, [0, 0, 1], same_cell="all")
    assert int(targets.heatmaps.eq(1).sum()) == 2
    torch.manual_seed(0)
    outputs = CenterNetOutputs(
        torch.randn(1, 3, *GRID), torch.zeros(1, 2, *GRID), torch.zeros(1, 2, *GRID)
    )
    numerator = original_focal_sum(outputs.heatmap, targets.heatmaps)
    ours = centernet_losses(outputs, targets)["loss_centernet_hm"]
    original = centernet_losses(outputs, targets, heatmap_normalizer="peaks")["loss_centernet_hm"]
    torch.testing.assert_close(ours, numerator / 3)
    torch.testing.assert_close(original, numerator / 2)
    # No peak: the sum of the negative terms, as the original's num_pos == 0 branch.
    empty = targets_of(torch.zeros(0, 4).tolist(), [])
    loss = centernet_losses(outputs, empty, heatmap_normalizer="peaks")["loss_centernet_hm"]
    torch.testing.assert_close(loss, original_focal_sum(outputs.heatmap, empty.heatmaps))


def test_l1_losses_over_both_coordinates():
    # Two regressed objects of sizes (4, 4), (6, 6), offsets 0; predictions 0 sizes and 0.5
    # offsets: |size| sums to 20, |offset| to 4 * 0.5 = 2. The original (RegL1Loss) divides by
    # the expanded mask, 2 * 2 + 1e-4; ours by the 2 objects.
    boxes = [[8.0, 8.0, 24.0, 24.0], [4.0, 4.0, 28.0, 28.0]]
    targets = targets_of(boxes, [0, 2], same_cell="all")
    outputs = CenterNetOutputs(
        torch.zeros(1, 3, *GRID), torch.zeros(1, 2, *GRID), torch.full((1, 2, *GRID), 0.5)
    )
    weights = dict(wh_loss_weight=1.0, offset_loss_weight=1.0)
    ours = centernet_losses(outputs, targets, **weights)
    original = centernet_losses(outputs, targets, regression_normalizer="coordinates", **weights)
    torch.testing.assert_close(ours["loss_centernet_wh"], torch.tensor(20.0 / 2))
    torch.testing.assert_close(ours["loss_centernet_offset"], torch.tensor(2.0 / 2))
    torch.testing.assert_close(original["loss_centernet_wh"], torch.tensor(20.0 / (4 + 1e-4)))
    torch.testing.assert_close(original["loss_centernet_offset"], torch.tensor(2.0 / (4 + 1e-4)))
    with pytest.raises(ValueError, match="regression_normalizer"):
        centernet_losses(outputs, targets, regression_normalizer="pixels")


def test_negative_sizes_decoded_as_they_are():
    # A peak at cell (5, 3), offset (0.5, 0.5), size (-2, 4): the original's
    # (x + ox -/+ w / 2) gives x from 6.5 to 4.5 (inside out); ours takes the size as 0.
    xs, ys = torch.tensor([5]), torch.tensor([3])
    wh, offset = torch.tensor([[-2.0, 4.0]]), torch.tensor([[0.5, 0.5]])
    original = boxes_from_centers(xs, ys, wh, offset, STRIDE, clamp_sizes=False)
    ours = boxes_from_centers(xs, ys, wh, offset, STRIDE)
    torch.testing.assert_close(original, torch.tensor([[6.5, 1.5, 4.5, 5.5]]) * STRIDE)
    torch.testing.assert_close(ours, torch.tensor([[5.5, 1.5, 5.5, 5.5]]) * STRIDE)
    # Through the postprocessor, clipped to the image (the original's pipeline maps the
    # unclipped cells back instead: CenterNet.decode_cells).
    scores = torch.zeros(1, 1, 8, 8)
    scores[0, 0, 3, 5] = 0.9
    wh_map = torch.zeros(1, 2, 8, 8)
    wh_map[0, :, 3, 5] = wh[0]
    offset_map = torch.full((1, 2, 8, 8), 0.5)
    (result,) = CenterNetPostprocessor(clamp_sizes=False)(
        scores, wh_map, offset_map, STRIDE, [(32, 32)]
    )
    torch.testing.assert_close(result.pred_boxes.tensor, torch.tensor([[26.0, 6.0, 18.0, 22.0]]))
