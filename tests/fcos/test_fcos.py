"""anchorfree.fcos on CPU: targets by hand and against a slow reference, losses and decoding on
known values, training edge cases (empty images, batch sizes, odd sizes), every config, the
predictor, and an over-fit on embedded images evaluated with COCOEvaluator.

Long because the slow reference assignment lives beside the tests that use it.
"""

import copy
import functools
import math
import os

import numpy as np
import pytest
import torch
from detector_testing import (  # noqa: F401  (one_thread: an autouse fixture)
    assert_same_detections,
    build_shapes_model,
    check_default_predictor,
    check_training_step,
    instances,
    logit,
    odd_sized_batches,
    one_thread,
    overfit_set,
    random_input,
    train_until_ap50,
    two_object_batch,
)

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import load_config
from anchorfree.export.graph import ExportableDetector
from anchorfree.fcos import (
    FCOSPostprocessor,
    FCOSTargetGenerator,
    centerness_targets,
    compute_points,
    iou_loss,
)
from anchorfree.fcos.postprocess import THRESHOLD_ON

from detectron2.config import instantiate
from detectron2.utils.events import EventStorage

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FCOS_CONFIGS = os.path.join(REPO, "configs", "FCOS")
SHAPES_LAZY = os.path.join(FCOS_CONFIGS, "fcos_R_18_FPN_shapes.py")
STRIDES = [8, 16, 32, 64, 128]
LOSS_KEYS = {"loss_fcos_cls", "loss_fcos_loc", "loss_fcos_ctr"}
check_losses_and_gradients = functools.partial(check_training_step, loss_keys=LOSS_KEYS)


def grid_shapes(height, width, strides=STRIDES):
    return [(math.ceil(height / s), math.ceil(width / s)) for s in strides]


# ------------------------------------------------------------------------------------------
# Targets
# ------------------------------------------------------------------------------------------


def test_points_are_at_i_s_plus_half_stride():
    p3, p4 = compute_points([(2, 3), (1, 2)], [8, 16])
    assert p3.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]
    assert p4.tolist() == [[8, 8], [24, 8]]


def test_points_at_cell_corners_are_at_i_s():
    p3, p4 = compute_points([(2, 3), (1, 2)], [8, 16], at_cell_centers=False)
    assert p3.tolist() == [[0, 0], [8, 0], [16, 0], [0, 8], [8, 8], [16, 8]]
    assert p4.tolist() == [[0, 0], [16, 0]]


def test_hand_computed_targets_two_overlapping_boxes():
    """
    64x64 image, levels of stride 8 (8x8 points at 4, 12, ..., 60) and 16 (4x4 points at 8, 24,
    40, 56), size ranges [0, 20] and [20, inf], center sampling radius 1.5.

    A = (0, 0, 32, 32), area 1024, center (16, 16). B = (4, 8, 36, 26), area 576, center (20, 17).

    Stride 8 (center region half-width 12):
      A: x, y in (4, 28) -> {12, 20}; max(l,t,r,b) = 20 at all four points: kept ([0, 20] is
         inclusive).
      B: x in (8, 32) -> {12, 20, 28}; y in (5, 29) and inside (8, 26) -> {12, 20}.
         max dist: (12,12) 24, (20,12) 16, (28,12) 24, (12,20) 24, (20,20) 16, (28,20) 24.
         -> (20,12), (20,20), both also A's: ambiguous -> B (smaller area).
    Stride 16 (half-width 24):
      A: x, y in (-8, 40) -> {8, 24}; max dist 24 at all four points (>= 20): kept.
      B: x in (-4, 44) and inside (4, 36) -> {8, 24}; y inside (8, 26) -> {24} (y=8 is on the
         top edge: t = 0, not inside). max dist: (8,24) 28, (24,24) 20 ([20, inf] inclusive).
         -> both also A's: ambiguous -> B.
    """
    generator = FCOSTargetGenerator(
        num_classes=5, sizes_of_interest=(20,), center_sampling_radius=1.5
    )
    box_a, box_b = [0, 0, 32, 32], [4, 8, 36, 26]
    # Image 0 lists A then B; image 1 lists B then A, with other classes.
    gt = [instances([box_a, box_b], [1, 3]), instances([box_b, box_a], [4, 0])]
    targets = generator([(8, 8), (4, 4)], [8, 16], gt)

    def index(level, x, y):
        stride, width, start = (8, 8, 0) if level == 0 else (16, 4, 64)
        return start + (y - stride // 2) // stride * width + (x - stride // 2) // stride

    # point -> (box, (l, t, r, b) / stride)
    expected = {
        index(0, 12, 12): ("A", [12 / 8, 12 / 8, 20 / 8, 20 / 8]),
        index(0, 12, 20): ("A", [12 / 8, 20 / 8, 20 / 8, 12 / 8]),
        index(0, 20, 12): ("B", [16 / 8, 4 / 8, 16 / 8, 14 / 8]),
        index(0, 20, 20): ("B", [16 / 8, 12 / 8, 16 / 8, 6 / 8]),
        index(1, 8, 8): ("A", [8 / 16, 8 / 16, 24 / 16, 24 / 16]),
        index(1, 24, 8): ("A", [24 / 16, 8 / 16, 8 / 16, 24 / 16]),
        index(1, 8, 24): ("B", [4 / 16, 16 / 16, 28 / 16, 2 / 16]),
        index(1, 24, 24): ("B", [20 / 16, 16 / 16, 12 / 16, 2 / 16]),
    }
    assert sorted(expected) == [9, 10, 17, 18, 64, 65, 68, 69]
    for image, (idx_of, class_of) in enumerate(
        [({"A": 0, "B": 1}, {"A": 1, "B": 3}), ({"A": 1, "B": 0}, {"A": 0, "B": 4})]
    ):
        labels = torch.full((80,), 5)
        matched = torch.full((80,), -1)
        box_targets = torch.zeros(80, 4)
        for point, (box, ltrb) in expected.items():
            labels[point] = class_of[box]
            matched[point] = idx_of[box]
            box_targets[point] = torch.tensor(ltrb)
        assert targets.labels[image].tolist() == labels.tolist()
        assert targets.matched_idxs[image].tolist() == matched.tolist()
        torch.testing.assert_close(targets.box_targets[image], box_targets)


def test_center_sampling_radius_and_zero_disables_it():
    """One box (0, 0, 64, 48) on one level of stride 16 with range [0, inf]: points x in
    {8, 24, 40, 56}, y in {8, 24, 40}, all 12 inside the box. Radius 1.5 (half-width 24 around
    (32, 24)): x in (8, 56) -> {24, 40}, y in (0, 48) -> {8, 24, 40}: 6 points. Radius 0.5
    (half-width 8): x in (24, 40) holds no point: none."""
    gt = [instances([[0, 0, 64, 48]], [2], image_size=(48, 64))]

    def positives(radius):
        generator = FCOSTargetGenerator(
            num_classes=3, sizes_of_interest=(), center_sampling_radius=radius
        )
        labels = generator([(3, 4)], [16], gt).labels[0]
        return sorted((labels == 2).nonzero().flatten().tolist())

    assert positives(0.0) == list(range(12))
    assert positives(1.5) == [1, 2, 5, 6, 9, 10]
    assert positives(0.5) == []


def test_equal_areas_go_to_the_first_box_and_crowd_is_ignored():
    generator = FCOSTargetGenerator(num_classes=3, sizes_of_interest=(), center_sampling_radius=0.0)
    # Two identical boxes, classes 2 and 0: every point goes to the first.
    labels = generator([(2, 2)], [16], [instances([[0, 0, 32, 32]] * 2, [2, 0], (32, 32))]).labels[
        0
    ]
    assert labels.tolist() == [2, 2, 2, 2]
    # A crowd box over the left half, a regular box over the right half: the regular box wins
    # where both apply, points only in the crowd box are ignored (-1), the rest background.
    gt = instances([[0, 0, 20, 32], [12, 0, 32, 32]], [1, 2], (32, 32), crowd=[True, False])
    targets = generator([(2, 2)], [16], [gt])
    assert targets.labels[0].tolist() == [-1, 2, -1, 2]
    assert targets.matched_idxs[0].tolist() == [-1, 1, -1, 1]
    assert targets.box_targets[0, 0].tolist() == [0, 0, 0, 0]


def slow_targets(
    shapes, strides, boxes, classes, crowd, ranges, radius, num_classes, at_cell_centers=True
):
    """The FCOS rules as an obvious loop over every point and box."""
    labels, box_targets, matched = [], [], []
    for (height, width), stride, (low, high) in zip(shapes, strides, ranges):
        for i in range(height):
            for j in range(width):
                offset = stride // 2 if at_cell_centers else 0
                x, y = j * stride + offset, i * stride + offset
                best = None
                for k, (x0, y0, x1, y1) in enumerate(boxes):
                    dist = (x - x0, y - y0, x1 - x, y1 - y)
                    if min(dist) <= 0 or not low <= max(dist) <= high:
                        continue
                    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                    if radius > 0 and not (
                        abs(x - cx) < radius * stride and abs(y - cy) < radius * stride
                    ):
                        continue
                    key = (math.inf if crowd[k] else (x1 - x0) * (y1 - y0), k)
                    if best is None or key < best[0]:
                        best = (key, k, dist)
                if best is None:
                    labels.append(num_classes), matched.append(-1), box_targets.append([0.0] * 4)
                elif crowd[best[1]]:
                    labels.append(-1), matched.append(-1), box_targets.append([0.0] * 4)
                else:
                    labels.append(classes[best[1]]), matched.append(best[1])
                    box_targets.append([d / stride for d in best[2]])
    return labels, box_targets, matched


@pytest.mark.parametrize("at_cell_centers", [True, False], ids=["centers", "corners"])
@pytest.mark.parametrize(
    "radius,sizes",
    [(1.5, (64, 128, 256, 512)), (0.0, (64, 128, 256, 512)), (2.3, (16, 32, 48, 64))],
)
def test_vectorized_targets_match_slow_loop(radius, sizes, at_cell_centers):
    rng = np.random.default_rng(int(radius * 10) + len(sizes))
    height, width = 200, 249
    shapes = grid_shapes(256, 256)
    generator = FCOSTargetGenerator(
        num_classes=5,
        sizes_of_interest=sizes,
        center_sampling_radius=radius,
        points_at_cell_centers=at_cell_centers,
    )
    gts = []
    for image in range(4):
        n = [0, 1, 12, 30][image]
        xy = rng.uniform(0, 1, (n, 2)) * [width, height]
        wh = rng.uniform(0, 1, (n, 2)) ** 2 * 220 + 1
        boxes = np.concatenate([xy, xy + wh], axis=1)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        if image == 3:
            boxes = boxes.round()  # points on box edges and exact range boundaries
            boxes[1] = boxes[0]  # a duplicate: equal areas
        gts.append(
            (boxes.tolist(), rng.integers(0, 5, n).tolist(), (rng.uniform(size=n) < 0.2).tolist())
        )
    targets = generator(
        shapes, STRIDES, [instances(b, c, (height, width), crowd=k) for b, c, k in gts]
    )
    for image, (boxes, classes, crowd) in enumerate(gts):
        labels, box_targets, matched = slow_targets(
            shapes,
            STRIDES,
            boxes,
            classes,
            crowd,
            generator.size_ranges,
            radius,
            5,
            at_cell_centers,
        )
        assert targets.labels[image].tolist() == labels
        assert targets.matched_idxs[image].tolist() == matched
        torch.testing.assert_close(
            targets.box_targets[image], torch.tensor(box_targets), atol=1e-4, rtol=1e-5
        )
    assert (targets.labels < 5).sum() > 15 and (targets.labels == -1).any()  # not vacuous


# ------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------


def test_iou_losses_on_known_values():
    # pred (1,1,1,1) = box [-1,-1,1,1] (area 4); target (.5,.5,2.5,2.5) = box [-.5,-.5,2.5,2.5]
    # (area 9). Intersection [-.5,-.5,1,1] = 2.25, union 10.75, IoU = 9/43; enclosing box
    # [-1,-1,2.5,2.5] = 12.25, GIoU = 9/43 - (12.25 - 10.75)/12.25 = 9/43 - 6/49.
    pred = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    target = torch.tensor([[0.5, 0.5, 2.5, 2.5], [1.0, 2.0, 3.0, 4.0]])
    iou = 9 / 43
    torch.testing.assert_close(
        iou_loss(pred, target, "giou"), torch.tensor([1 - (iou - 6 / 49), 0.0])
    )
    torch.testing.assert_close(iou_loss(pred, target, "linear_iou"), torch.tensor([1 - iou, 0.0]))
    torch.testing.assert_close(iou_loss(pred, target, "iou"), torch.tensor([-math.log(iou), 0.0]))
    with pytest.raises(ValueError, match="Unknown box loss"):
        iou_loss(pred, target, "l1")


def test_centerness_on_known_values():
    ltrb = torch.tensor([[2.0, 4.0, 6.0, 1.0], [3.0, 3.0, 3.0, 3.0], [1.0, 5.0, 9.0, 5.0]])
    expected = torch.tensor([math.sqrt(2 / 6 * 1 / 4), 1.0, math.sqrt(1 / 9)])
    torch.testing.assert_close(centerness_targets(ltrb), expected)


# ------------------------------------------------------------------------------------------
# Decoding
# ------------------------------------------------------------------------------------------


def test_decode_synthetic_predictions():
    """Two levels (strides 8 and 16) of a 32x32 image, 3 classes, background logits -10."""
    points = compute_points([(4, 4), (2, 2)], [8, 16])
    logits = [torch.full((1, 16, 3), -10.0), torch.full((1, 4, 3), -10.0)]
    box = [torch.zeros(1, 16, 4), torch.zeros(1, 4, 4)]
    ctr = [torch.full((1, 16, 1), 10.0), torch.full((1, 4, 1), 10.0)]
    # Level 0, point 5 = (12, 12): class 2, p=0.9, ctr 0.5, distances (1, 1, 2, 0.5) strides.
    logits[0][0, 5, 2], ctr[0][0, 5, 0] = logit(0.9), logit(0.5)
    box[0][0, 5] = torch.tensor([1.0, 1.0, 2.0, 0.5])  # -> box (4, 4, 28, 16)
    # Level 1, point 3 = (24, 24): class 0, p=0.8, ctr 0.8, distances (1, 1, 1, 1) strides.
    logits[1][0, 3, 0], ctr[1][0, 3, 0] = logit(0.8), logit(0.8)
    box[1][0, 3] = torch.tensor([1.0, 1.0, 1.0, 1.0])  # -> box (8, 8, 40, 40), clipped to 32
    # Level 0, point 0 = (4, 4): class 1, p=0.04 (below 0.05 before centerness), ctr ~1.
    logits[0][0, 0, 1] = logit(0.04)
    # Same box as the first, same class, lower score: removed by NMS; other class: kept.
    logits[0][0, 6, 2], ctr[0][0, 6, 0] = logit(0.5), logit(0.5)
    box[0][0, 6] = torch.tensor([2.0, 1.0, 1.0, 0.5])  # point (20, 12) -> box (4, 4, 28, 16)
    logits[0][0, 6, 1] = logit(0.3)

    post = FCOSPostprocessor(score_thresh=0.05, topk_candidates=1000, nms_thresh=0.6)
    (result,) = post(points, [8, 16], logits, box, ctr, [(32, 32)])
    order = result.scores.argsort(descending=True)
    torch.testing.assert_close(
        result.pred_boxes.tensor[order],
        torch.tensor([[8.0, 8.0, 32.0, 32.0], [4.0, 4.0, 28.0, 16.0], [4.0, 4.0, 28.0, 16.0]]),
    )
    assert result.pred_classes[order].tolist() == [0, 2, 1]
    torch.testing.assert_close(
        result.scores[order],
        torch.tensor([math.sqrt(0.8 * 0.8), math.sqrt(0.9 * 0.5), math.sqrt(0.3 * 0.5)]),
    )
    # Top-1 per level, at most 1 detection: the best of all.
    post = FCOSPostprocessor(topk_candidates=1, max_detections_per_image=1)
    (result,) = post(points, [8, 16], logits, box, ctr, [(32, 32)])
    assert result.pred_classes.tolist() == [0] and len(result) == 1
    # Pixel-unit predictions (normalize_by_stride=False) are not multiplied by the stride.
    box_px = [b * 8 for b in box[:1]] + [b * 16 for b in box[1:]]
    (result,) = FCOSPostprocessor(normalize_by_stride=False)(
        points, [8, 16], logits, box_px, ctr, [(32, 32)]
    )
    assert len(result) == 3 and result.pred_boxes.tensor.max() == 32


def test_smoothed_loss_normalizers_divide_every_loss():
    """Three points, two positives of class 0; a ``smooth_normalizer`` that doubles each
    normalizer halves the three losses, and is asked for the centerness sum only where the box
    loss is weighted by it."""
    from anchorfree.fcos.losses import fcos_losses

    args = (
        torch.tensor([[[0.3], [-0.2], [0.1]]]),
        torch.tensor([[[1.0, 1.0, 2.0, 2.0], [0.5, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]]),
        torch.tensor([[0.2, -0.4, 0.0]]),
        torch.tensor([[0, 0, 1]]),
        torch.tensor([[[1.0, 2.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]]),
    )
    for weighted, names in [(True, ["positives", "centerness"]), (False, ["positives"])]:
        kwargs = dict(num_classes=1, centerness_weighted_box_loss=weighted)
        plain, stats = fcos_losses(*args, **kwargs)
        asked = []

        def doubled(name, value):
            asked.append(name)
            return 2.0 * value

        smoothed, smoothed_stats = fcos_losses(*args, smooth_normalizer=doubled, **kwargs)
        assert asked == names
        assert stats["normalizer"] == 2.0 and smoothed_stats["normalizer"] == 4.0
        for key, value in plain.items():
            torch.testing.assert_close(smoothed[key], value / 2.0)


def test_loss_normalizer_moving_average(shapes_cfg):
    cfg = copy.deepcopy(shapes_cfg)
    cfg.model.loss_normalizer_momentum = 0.9
    model = build_shapes_model(cfg)
    # From the first batch's value, then n <- 0.9 n + 0.1 x; each normalizer on its own.
    assert model.smooth_loss_normalizer("positives", 10.0) == 10.0
    assert model.smooth_loss_normalizer("positives", 20.0) == pytest.approx(11.0)
    assert model.smooth_loss_normalizer("centerness", 4.0) == 4.0
    assert model.smooth_loss_normalizer("positives", 0.0) == pytest.approx(9.9)
    # Training steps go through it: after two batches, the average of their positives.
    model = build_shapes_model(cfg)
    model.train()
    positives = []
    with EventStorage() as storage:
        for boxes in ([[8, 10, 60, 50]], [[8, 10, 60, 50], [70, 30, 125, 90]]):
            model([random_input(97, 130, boxes, [1] * len(boxes), seed=3)])
            positives.append(storage.latest()["fcos/num_pos_per_image"][0])
    assert positives[1] > positives[0] > 0
    expected = 0.9 * positives[0] + 0.1 * positives[1]
    assert model._loss_normalizers["positives"] == pytest.approx(expected)
    cfg.model.loss_normalizer_momentum = 1.0
    with pytest.raises(ValueError, match="loss_normalizer_momentum"):
        build_shapes_model(cfg)


def test_threshold_on_the_classification_or_the_final_score():
    """One stride-8 level of four points, two classes, boxes 2 px around their points (no
    overlaps). ``"cls"`` thresholds the classification probability; ``"score"`` (Detectron2's)
    ``sqrt(cls * centerness)``. The exported graph's decoding keeps the same candidates."""
    points = compute_points([(2, 2)], [8])
    logits = torch.full((1, 4, 2), -10.0)
    ctr = torch.full((1, 4, 1), 10.0)
    logits[0, 0, 0], ctr[0, 0, 0] = logit(0.04), logit(0.9)  # score sqrt(0.036) = 0.19
    logits[0, 1, 1], ctr[0, 1, 0] = logit(0.5), logit(0.004)  # score sqrt(0.002) = 0.045
    logits[0, 2, 0], ctr[0, 2, 0] = logit(0.9), logit(0.5)  # score sqrt(0.45) = 0.67
    box = torch.full((1, 4, 4), 0.25)
    kept = {}
    for threshold_on in THRESHOLD_ON:
        post = FCOSPostprocessor(score_thresh=0.05, threshold_on=threshold_on)
        (result,) = post(points, [8], [logits], [box], [ctr], [(16, 16)])
        order = result.scores.argsort(descending=True)
        kept[threshold_on] = result.pred_classes[order].tolist(), result.scores[order]
        boxes, scores, classes = post.select_graph(
            points, [8], [logits[0]], [box[0]], [ctr[0]], (16, 16)
        )
        order = scores.argsort(descending=True)
        assert classes[order].tolist() == kept[threshold_on][0]
        torch.testing.assert_close(scores[order], kept[threshold_on][1])
    assert kept["cls"][0] == [0, 1]
    torch.testing.assert_close(kept["cls"][1], torch.tensor([0.45, 0.002]).sqrt())
    assert kept["score"][0] == [0, 0]
    torch.testing.assert_close(kept["score"][1], torch.tensor([0.45, 0.036]).sqrt())
    with pytest.raises(ValueError, match="threshold_on"):
        FCOSPostprocessor(threshold_on="centerness")


# ------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes_cfg():
    return load_config(SHAPES_LAZY)


def test_training_with_empty_images(shapes_cfg):
    model = build_shapes_model(shapes_cfg)
    empty = random_input(200, 249, [], [])
    losses = check_losses_and_gradients(model, [empty])
    assert (
        losses["loss_fcos_loc"] == 0
        and losses["loss_fcos_ctr"] == 0
        and losses["loss_fcos_cls"] > 0
    )
    check_losses_and_gradients(
        model, [empty, random_input(131, 97, [[10, 20, 90, 120]], [3], seed=1)]
    )


@odd_sized_batches
def test_training_and_inference_batch_sizes_and_odd_image_sizes(shapes_cfg, sizes):
    model = build_shapes_model(shapes_cfg)
    batch = two_object_batch(sizes)
    losses = check_losses_and_gradients(model, batch)
    assert losses["loss_fcos_loc"] > 0
    model.eval()
    model.postprocessor = FCOSPostprocessor(score_thresh=0.0)  # untrained: keep every candidate
    with torch.no_grad():
        outputs = model([{k: v for k, v in x.items() if k != "instances"} for x in batch])
    assert len(outputs) == len(batch)
    for output, (h, w) in zip(outputs, sizes):
        result = output["instances"]
        assert result.image_size == (h, w) and 0 < len(result) <= 100
        boxes = result.pred_boxes.tensor
        assert (boxes[:, 0::2] <= w).all() and (boxes[:, 1::2] <= h).all() and (boxes >= 0).all()
        assert ((result.scores >= 0) & (result.scores <= 1)).all()


def test_loss_falls_on_a_fixed_batch(shapes_cfg):
    model = build_shapes_model(shapes_cfg, seed=1)
    batch = [
        random_input(
            97, 130, [[8, 10, 60, 50], [70, 30, 125, 90], [20, 60, 45, 92]], [1, 4, 6], seed=3
        ),
        random_input(64, 64, [[10, 10, 55, 50]], [2], seed=4),
    ]
    # Paint the boxes so that there is something to learn.
    for x in batch:
        for (x0, y0, x1, y1), c in zip(
            x["instances"].gt_boxes.tensor.int().tolist(), x["instances"].gt_classes.tolist()
        ):
            x["image"][:, y0:y1, x0:x1] = torch.tensor(
                [30 * c, 255 - 30 * c, 128], dtype=torch.uint8
            )[:, None, None]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    totals = []
    model.train()
    with EventStorage():
        for _ in range(30):
            loss = sum(model(batch).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals.append(loss.item())
    assert all(math.isfinite(t) for t in totals)
    assert np.mean(totals[-5:]) < 0.5 * np.mean(totals[:5]), totals


def test_the_model_decodes_at_its_target_generators_points(shapes_cfg):
    """With points at the cells' corners, the eager model and the exported graph's decoding
    both decode at them: the same detections, and at equal weights each box is the cell-center
    model's moved by its level's half stride."""
    cfg = copy.deepcopy(shapes_cfg)
    cfg.model.postprocessor.score_thresh = 0.0
    cfg.model.postprocessor.nms_thresh = 1.0  # no suppression: every candidate stays
    image = torch.rand(3, 97, 131, generator=torch.Generator().manual_seed(0)) * 255
    detections = {}
    for at_cell_centers in (True, False):
        cfg.model.target_generator.points_at_cell_centers = at_cell_centers
        model = build_shapes_model(cfg)
        model.eval()
        with torch.no_grad():
            (eager,) = model.inference(model.preprocess_image([{"image": image}]))
            graph = ExportableDetector(model)(image)
        assert len(eager) > 0
        assert_same_detections(*graph, eager.pred_boxes.tensor, eager.scores, eager.pred_classes)
        detections[at_cell_centers] = eager
    centers, corners = detections[True], detections[False]
    assert len(centers) == len(corners)
    order_centers, order_corners = centers.scores.argsort(), corners.scores.argsort()
    torch.testing.assert_close(centers.scores[order_centers], corners.scores[order_corners])
    boxes_centers = centers.pred_boxes.tensor[order_centers]
    boxes_corners = corners.pred_boxes.tensor[order_corners]
    size = torch.tensor([131.0, 97.0, 131.0, 97.0])
    inside = ((boxes_corners > 0) & (boxes_centers < size)).all(dim=1)  # neither clipped
    assert inside.sum() >= 5
    shift = (boxes_centers - boxes_corners)[inside]
    torch.testing.assert_close(shift, shift[:, :1].expand(-1, 4))
    half_stride = shift[:, 0].round()
    torch.testing.assert_close(shift[:, 0], half_stride)
    assert set(half_stride.tolist()) <= {4.0, 8.0, 16.0, 32.0, 64.0}


def test_inconsistent_box_units_are_refused(shapes_cfg):
    cfg = copy.deepcopy(shapes_cfg)
    cfg.model.postprocessor.normalize_by_stride = False
    with pytest.raises(ValueError, match="Box target units disagree"):
        instantiate(cfg.model)


# ------------------------------------------------------------------------------------------
# Configs and the predictor
# ------------------------------------------------------------------------------------------


def test_paper_and_improved_settings():
    paper = instantiate(load_config(os.path.join(FCOS_CONFIGS, "fcos_R_50_FPN_1x.py")).model)
    imprv = instantiate(load_config(os.path.join(FCOS_CONFIGS, "fcos_imprv_R_50_FPN_1x.py")).model)
    assert (
        paper.head.centerness_on_reg,
        paper.target_generator.center_sampling_radius,
        paper.box_loss_type,
        paper.head.norm_reg_targets,
    ) == (False, 0.0, "iou", False)
    assert (
        imprv.head.centerness_on_reg,
        imprv.target_generator.center_sampling_radius,
        imprv.box_loss_type,
        imprv.head.norm_reg_targets,
    ) == (True, 1.5, "giou", True)
    for model in (paper, imprv):
        assert model.target_generator.size_ranges == [
            (0, 64),
            (64, 128),
            (128, 256),
            (256, 512),
            (512, math.inf),
        ]
        assert len(model.head.cls_subnet) == 12  # 4 x (conv, GN, ReLU)
        assert (
            isinstance(model.head.cls_subnet[1], torch.nn.GroupNorm)
            and model.head.cls_subnet[1].num_groups == 32
        )
        torch.testing.assert_close(model.head.cls_score.bias, torch.full((80,), -math.log(99)))
        post = model.postprocessor
        assert (
            post.score_thresh,
            post.topk_candidates,
            post.nms_thresh,
            post.max_detections_per_image,
        ) == (0.05, 1000, 0.6, 100)


def test_default_predictor_through_get_predictor_cfg(tmp_path):
    check_default_predictor(SHAPES_LAZY, tmp_path, ["model.postprocessor.score_thresh=0.0"])


# ------------------------------------------------------------------------------------------
# Over-fit on embedded images
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_overfits_four_embedded_images(shapes_cfg, tmp_path):
    """The first 4 non-empty images of the tiny embedded split (31 objects, 8-218 px), no
    augmentation, AdamW: AP50 >= 0.9 on those images within 60 iterations (about 40 suffice)."""
    data = overfit_set("anchorfree_fcos_test_overfit4", shapes_cfg)
    model = build_shapes_model(shapes_cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    scores = train_until_ap50(
        model, optimizer, 1e-3, data, str(tmp_path), max_iter=60, eval_every=20, eval_from=40
    )
    assert scores[-1] >= 90, scores
