"""anchorfree.cornernet on CPU: targets by hand and against a plain loop, the associative-embedding
loss on hand cases, decoding of synthetic corner maps (each rejection rule), soft-NMS by hand and
against a plain loop, training edge cases (empty images, one object, odd sizes, stacks), every
config, the predictor, and an over-fit on embedded images evaluated with COCOEvaluator.

Long because the slow references (plain loops) live beside the tests that use them.
"""

import copy
import functools
import math
import os

import numpy as np
import pytest
import torch
from detector_testing import (  # noqa: F401  (one_thread: an autouse fixture)
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
from anchorfree.cornernet import (
    CornerCandidates,
    CornerNetPostprocessor,
    CornerNetTargetGenerator,
    CornerPredictions,
    associative_embedding_loss,
    batched_soft_nms,
    cornernet_losses,
    flip_candidates,
)
from anchorfree.modeling.gaussian_targets import heatmap_radii
from anchorfree.modeling.heatmap_loss import clamped_sigmoid

from detectron2.config import instantiate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORNERNET_CONFIGS = os.path.join(REPO, "configs", "CornerNet")
SHAPES_NAME = "cornernet_hourglass_small_shapes"
SHAPES_LAZY = os.path.join(CORNERNET_CONFIGS, SHAPES_NAME + ".py")
LOSS_KEYS = {
    "loss_cornernet_hm_tl",
    "loss_cornernet_hm_br",
    "loss_cornernet_pull",
    "loss_cornernet_push",
    "loss_cornernet_offset",
}
check_losses_and_gradients = functools.partial(check_training_step, loss_keys=LOSS_KEYS)


# ------------------------------------------------------------------------------------------
# Targets
# ------------------------------------------------------------------------------------------


def test_hand_computed_targets():
    """
    64x64 input, stride 4: a 16x16 grid, 3 classes.

    A = (4, 8, 36, 26), class 1: top-left (1, 2) exactly (offset 0); bottom-right (9, 6.5):
    cell (9, 6), offset (0, 0.5). Size 8 x 4.5 cells; radius: the smallest root of the three
    cases at IoU 0.3 is case 2, (25 - sqrt(625 - 4*4*0.7*36)) / 8 = 1.263 -> 1, so sigma = 1/2:
    the 4 neighbours get exp(-1 / (2 sigma^2)) = exp(-2), the diagonals exp(-4).
    B = (40, 40, 64, 64), class 2: bottom-right (16, 16) is outside the grid: cell (15, 15),
    offset (1, 1). Size 6 x 6: radius (24 - sqrt(576 - 403.2)) / 8 = 1.357 -> 1.
    C = (0, 0, 10, 10) is a crowd box: left out. The second image has no objects.
    """
    generator = CornerNetTargetGenerator(num_classes=3)
    gt = [
        instances([[4, 8, 36, 26], [40, 40, 64, 64], [0, 0, 10, 10]], [1, 2, 0], crowd=[0, 0, 1]),
        instances([], []),
    ]
    targets = generator((16, 16), 4, gt)
    assert targets.num_objects == 2
    assert targets.mask.tolist() == [[True, True], [False, False]]
    assert targets.tl_cells[0].tolist() == [[1, 2], [10, 10]]
    assert targets.br_cells[0].tolist() == [[9, 6], [15, 15]]
    torch.testing.assert_close(targets.tl_offsets[0], torch.zeros(2, 2))
    torch.testing.assert_close(targets.br_offsets[0], torch.tensor([[0.0, 0.5], [1.0, 1.0]]))
    assert heatmap_radii(torch.tensor([4.5, 6.0]), torch.tensor([8.0, 6.0]), 0.3).tolist() == [1, 1]

    def gaussian_3x3(heatmap, x, y):
        expected = torch.zeros_like(heatmap)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if 0 <= x + dx < 16 and 0 <= y + dy < 16:
                    expected[y + dy, x + dx] = math.exp(-2 * (dx * dx + dy * dy))
        torch.testing.assert_close(heatmap, expected)

    tl, br = targets.tl_heatmap, targets.br_heatmap
    gaussian_3x3(tl[0, 1], 1, 2)
    gaussian_3x3(tl[0, 2], 10, 10)
    gaussian_3x3(br[0, 1], 9, 6)
    gaussian_3x3(br[0, 2], 15, 15)
    assert tl[0, 0].sum() == 0 and br[0, 0].sum() == 0  # the crowd box's class
    assert tl[1].sum() == 0 and br[1].sum() == 0


def test_targets_of_an_empty_batch():
    targets = CornerNetTargetGenerator(num_classes=2)((8, 10), 4, [instances([], [])] * 2)
    assert targets.num_objects == 0
    assert targets.tl_heatmap.shape == (2, 2, 8, 10) and targets.tl_heatmap.sum() == 0
    assert targets.tl_cells.shape == (2, 0, 2) and targets.mask.shape == (2, 0)


def slow_heatmaps(boxes, classes, num_classes, height, width, stride):
    """Corner Gaussians drawn one object at a time with plain Python loops."""
    tl = np.zeros((num_classes, height, width))
    br = np.zeros((num_classes, height, width))
    for (x0, y0, x1, y1), c in zip(boxes, classes):
        radius = int(
            heatmap_radii(torch.tensor((y1 - y0) / stride), torch.tensor((x1 - x0) / stride), 0.3)
        )
        sigma = (2 * radius + 1) / 6
        for heatmap, (x, y) in ((tl, (x0, y0)), (br, (x1, y1))):
            cx = min(max(int(math.floor(x / stride)), 0), width - 1)
            cy = min(max(int(math.floor(y / stride)), 0), height - 1)
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    if 0 <= cx + dx < width and 0 <= cy + dy < height:
                        value = math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
                        heatmap[c, cy + dy, cx + dx] = max(heatmap[c, cy + dy, cx + dx], value)
    return tl, br


def test_vectorized_targets_match_slow_loop():
    rng = np.random.default_rng(0)
    height, width, stride, num_classes = 200, 249, 4, 5
    gts, per_image = [], []
    for n in [0, 1, 12, 40]:
        xy = rng.uniform(0, 1, (n, 2)) * [width, height]
        wh = rng.uniform(0, 1, (n, 2)) ** 2 * 200 + 2
        boxes = np.concatenate([xy, xy + wh], axis=1)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        classes = rng.integers(0, num_classes, n)
        gts.append(instances(boxes.tolist(), classes.tolist(), (height, width)))
        per_image.append((boxes.astype(np.float32), classes))
    grid = (math.ceil(height / stride), math.ceil(width / stride))
    targets = CornerNetTargetGenerator(num_classes=num_classes)(grid, stride, gts)
    for image, (boxes, classes) in enumerate(per_image):
        tl, br = slow_heatmaps(boxes, classes, num_classes, *grid, stride)
        np.testing.assert_allclose(targets.tl_heatmap[image].numpy(), tl, atol=1e-6)
        np.testing.assert_allclose(targets.br_heatmap[image].numpy(), br, atol=1e-6)
        n = len(classes)
        assert targets.mask[image].sum() == n and targets.mask[image, :n].all()
        corners = torch.from_numpy(boxes).view(n, 2, 2) / stride
        decoded = torch.stack(
            [
                targets.tl_cells[image, :n] + targets.tl_offsets[image, :n],
                targets.br_cells[image, :n] + targets.br_offsets[image, :n],
            ],
            1,
        )
        torch.testing.assert_close(decoded, corners)
    assert targets.num_objects == 53


# ------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------


def test_associative_embedding_loss_hand_case():
    """
    Image 1: tl (0, 1.2), br (0.4, 1.0): means (0.2, 1.1); pull per object 0.04 + 0.04 and
    0.01 + 0.01, pull = 0.1 / 2 = 0.05; |0.2 - 1.1| = 0.9: push = 2 * 0.1 / (2 * 1) = 0.1.
    Image 2: one object tl 2, br 1: mean 1.5, pull 0.25 + 0.25 = 0.5; no push (one object).
    Image 3: no objects. Image 4: three objects with equal corners at 0, 0.5, 3: pull 0;
    push: only the pair (0, 0.5), both ways, 0.5 each: 1 / (3 * 2).
    Batch: pull = mean over images with objects (0.05 + 0.5 + 0) / 3; push = mean over images
    with two or more (0.1 + 1/6) / 2.
    """
    tl = torch.tensor([[0.0, 1.2, 0], [2.0, 0, 0], [0, 0, 0], [0.0, 0.5, 3.0]])
    br = torch.tensor([[0.4, 1.0, 0], [1.0, 0, 0], [0, 0, 0], [0.0, 0.5, 3.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 1, 1]], dtype=torch.bool)
    pull, push = associative_embedding_loss(tl, br, mask)
    torch.testing.assert_close(pull, torch.tensor(0.55 / 3))
    torch.testing.assert_close(push, torch.tensor((0.1 + 1 / 6) / 2))
    # Padding slots do not matter.
    pull2, push2 = associative_embedding_loss(tl + 7 * ~mask, br - 5 * ~mask, mask)
    torch.testing.assert_close((pull2, push2), (pull, push))


@pytest.mark.parametrize("num_objects", [0, 1])
def test_associative_embedding_loss_with_zero_or_one_object(num_objects):
    tl = torch.tensor([[0.3, 0.0]], requires_grad=True)
    br = torch.tensor([[0.1, 0.0]], requires_grad=True)
    mask = torch.tensor([[num_objects == 1, False]])
    pull, push = associative_embedding_loss(tl, br, mask)
    assert push.item() == 0.0
    torch.testing.assert_close(pull, torch.tensor(0.02 if num_objects else 0.0))
    (pull + push).backward()
    assert torch.isfinite(tl.grad).all() and torch.isfinite(br.grad).all()
    # Nothing at all (a batch without objects: no slots).
    pull, push = associative_embedding_loss(
        torch.zeros(2, 0), torch.zeros(2, 0), mask[:, :0].expand(2, 0)
    )
    assert pull.item() == 0.0 and push.item() == 0.0


def synthetic_predictions(grid=(16, 16), num_classes=3, background=-10.0):
    """Every cell at probability ~0; background embeddings far apart (+10 for top-left,
    -10 for bottom-right) so that only the corners placed by a test can pair up."""
    h, w = grid
    return CornerPredictions(
        tl_heatmap=torch.full((1, num_classes, h, w), background),
        br_heatmap=torch.full((1, num_classes, h, w), background),
        tl_embedding=torch.full((1, 1, h, w), 10.0),
        br_embedding=torch.full((1, 1, h, w), -10.0),
        tl_offset=torch.zeros(1, 2, h, w),
        br_offset=torch.zeros(1, 2, h, w),
    )


def with_probs(predictions):
    """The heatmaps as the postprocessor takes them: the model's clamped sigmoid."""
    return predictions._replace(
        tl_heatmap=clamped_sigmoid(predictions.tl_heatmap.float(), 1e-4),
        br_heatmap=clamped_sigmoid(predictions.br_heatmap.float(), 1e-4),
    )


def place(predictions, corner, cls, x, y, prob, embedding, offset=(0.0, 0.0)):
    getattr(predictions, f"{corner}_heatmap")[0, cls, y, x] = logit(prob)
    getattr(predictions, f"{corner}_embedding")[0, 0, y, x] = embedding
    getattr(predictions, f"{corner}_offset")[0, :, y, x] = torch.tensor(offset)


def test_decode_two_objects_with_known_embeddings():
    """Object 1, class 0: top-left cell (2, 3) + offset (0.5, 0.25), p 0.9, embedding 0;
    bottom-right (8, 10) + (0.25, 0.5), p 0.7, embedding 0.1 -> box x 2.5*4, y 3.25*4,
    x 8.25*4, y 10.5*4 = (10, 13, 33, 42), score 0.8. Object 2, class 2: (9, 1) p 0.8
    embedding 3, (14, 6) p 0.6 embedding 3.2 -> (36, 4, 56, 24), score 0.7. The cross pairs
    have different classes and embeddings 3 apart."""
    predictions = synthetic_predictions()
    place(predictions, "tl", 0, 2, 3, 0.9, 0.0, (0.5, 0.25))
    place(predictions, "br", 0, 8, 10, 0.7, 0.1, (0.25, 0.5))
    place(predictions, "tl", 2, 9, 1, 0.8, 3.0)
    place(predictions, "br", 2, 14, 6, 0.6, 3.2)
    for nms_type in ("soft_gaussian", "soft_linear", "hard", "none"):
        post = CornerNetPostprocessor(nms_type=nms_type)
        (result,) = post(with_probs(predictions), 4, [(64, 64)])
        torch.testing.assert_close(
            result.pred_boxes.tensor, torch.tensor([[10.0, 13, 33, 42], [36, 4, 56, 24]])
        )
        torch.testing.assert_close(result.scores, torch.tensor([0.8, 0.7]))
        assert result.pred_classes.tolist() == [0, 2]


@pytest.mark.parametrize(
    "br_cls,br_x,br_y,br_offset,br_embedding,kept",
    [
        (0, 8, 10, (0.0, 0.0), 0.4, True),
        (0, 8, 10, (0.0, 0.0), 0.5, True),  # embedding distance 0.5: not above the threshold
        (1, 8, 10, (0.0, 0.0), 0.0, False),  # different class
        (0, 8, 10, (0.0, 0.0), 0.6, False),  # embedding distance 0.6 > 0.5
        (0, 1, 10, (0.0, 0.0), 0.0, False),  # left of the top-left corner
        (0, 8, 2, (0.0, 0.0), 0.0, False),  # above it
        (0, 2, 10, (0.0, 0.0), 0.0, False),  # same x: not strictly right
        (0, 8, 3, (0.0, 0.0), 0.0, False),  # same y: not strictly below
        (0, 2, 10, (0.1, 0.0), 0.0, True),  # same cell column, but right after the offsets
    ],
)
def test_each_pairing_rule(br_cls, br_x, br_y, br_offset, br_embedding, kept):
    predictions = synthetic_predictions()
    place(predictions, "tl", 0, 2, 3, 0.9, 0.0)
    place(predictions, "br", br_cls, br_x, br_y, 0.7, br_embedding, br_offset)
    post = CornerNetPostprocessor(nms_type="none")
    (candidates,) = post.decode(with_probs(predictions), 4)
    assert len(candidates.scores) == int(kept)
    (result,) = post(with_probs(predictions), 4, [(64, 64)])
    assert len(result) == int(kept)
    if kept:
        expected = [8.0, 12.0, (br_x + br_offset[0]) * 4, br_y * 4.0]
        torch.testing.assert_close(result.pred_boxes.tensor, torch.tensor([expected]))


def test_decode_is_batched_and_clips_to_each_image():
    predictions = synthetic_predictions()
    place(predictions, "tl", 1, 0, 0, 0.9, 1.0)
    place(predictions, "br", 1, 15, 15, 0.9, 1.0, (1.0, 1.0))  # (64, 64) on a 64x64 grid
    batch = CornerPredictions(*(torch.cat([x, x]) for x in predictions))
    results = CornerNetPostprocessor()(with_probs(batch), 4, [(64, 64), (40, 50)])
    assert results[0].pred_boxes.tensor.tolist() == [[0.0, 0.0, 64.0, 64.0]]
    assert results[1].pred_boxes.tensor.tolist() == [[0.0, 0.0, 50.0, 40.0]]
    assert results[1].image_size == (40, 50)


def test_flip_candidates():
    candidates = CornerCandidates(
        boxes=torch.tensor([[10.0, 1, 30, 5]]),
        scores=torch.tensor([0.5]),
        classes=torch.tensor([2]),
    )
    flipped = flip_candidates(candidates, 100)
    assert flipped.boxes.tolist() == [[70.0, 1, 90, 5]]
    assert flipped.scores.tolist() == [0.5] and flipped.classes.tolist() == [2]


# ------------------------------------------------------------------------------------------
# Soft-NMS
# ------------------------------------------------------------------------------------------

# A (0, 0, 10, 10); B (0, 0, 10, 5): IoU(A, B) = 50/100 = 0.5; C (5, 0, 15, 10): IoU(A, C) =
# 50/150 = 1/3, IoU(B, C) = 25/125 = 0.2; D = A's box in another class.
SOFT_NMS_BOXES = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5], [5, 0, 15, 10], [0, 0, 10, 10]])
SOFT_NMS_SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6])
SOFT_NMS_CLASSES = torch.tensor([0, 0, 0, 1])


def test_soft_nms_gaussian_hand_case():
    """sigma 0.5: A first (0.9); B -> 0.8 exp(-0.25/0.5), C -> 0.7 exp(-(1/9)/0.5); D (0.6,
    other class, untouched) next; then C (0.7 e^(-2/9) = 0.561), which decays B by
    exp(-0.04/0.5); then B."""
    keep, scores = batched_soft_nms(
        SOFT_NMS_BOXES, SOFT_NMS_SCORES, SOFT_NMS_CLASSES, method="gaussian", sigma=0.5
    )
    assert keep.tolist() == [0, 3, 2, 1]
    expected = [0.9, 0.6, 0.7 * math.exp(-2 / 9), 0.8 * math.exp(-0.5) * math.exp(-0.08)]
    torch.testing.assert_close(scores, torch.tensor(expected))


def test_soft_nms_linear_hand_case():
    """Threshold 0.3: A first; B (IoU 0.5) -> 0.8 * 0.5 = 0.4, C (IoU 1/3) -> 0.7 * 2/3; D;
    C; B is untouched by C (IoU 0.2 < 0.3). With score_threshold 0.45, B (0.4) is dropped;
    with max_detections 2, only A and D."""
    kwargs = dict(method="linear", iou_threshold=0.3)
    keep, scores = batched_soft_nms(SOFT_NMS_BOXES, SOFT_NMS_SCORES, SOFT_NMS_CLASSES, **kwargs)
    assert keep.tolist() == [0, 3, 2, 1]
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.6, 0.7 * 2 / 3, 0.4]))
    keep, _ = batched_soft_nms(
        SOFT_NMS_BOXES, SOFT_NMS_SCORES, SOFT_NMS_CLASSES, score_threshold=0.45, **kwargs
    )
    assert keep.tolist() == [0, 3, 2]
    keep, _ = batched_soft_nms(
        SOFT_NMS_BOXES, SOFT_NMS_SCORES, SOFT_NMS_CLASSES, max_detections=2, **kwargs
    )
    assert keep.tolist() == [0, 3]


def slow_soft_nms(boxes, scores, classes, method, sigma, iou_threshold, score_threshold):
    """Algorithm 1 of the Soft-NMS paper, one box at a time, with Python numbers."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union

    remaining = {i: s for i, s in enumerate(scores) if s >= score_threshold}
    kept = []
    while remaining:
        best = max(remaining, key=lambda i: (remaining[i], -i))
        kept.append((best, remaining.pop(best)))
        for i in list(remaining):
            overlap = iou(boxes[best], boxes[i]) if classes[i] == classes[best] else 0.0
            if method == "gaussian":
                remaining[i] *= math.exp(-overlap * overlap / sigma)
            elif overlap >= iou_threshold:
                remaining[i] *= 1 - overlap
            if remaining[i] < score_threshold:
                del remaining[i]
    return kept


@pytest.mark.parametrize("method", ["gaussian", "linear"])
def test_soft_nms_matches_slow_loop(method):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (300, 2))], axis=1)
    scores = rng.uniform(0, 1, 300)
    classes = rng.integers(0, 3, 300)
    keep, new_scores = batched_soft_nms(
        torch.tensor(boxes, dtype=torch.float64),
        torch.tensor(scores, dtype=torch.float64),
        torch.tensor(classes),
        method=method,
        sigma=0.5,
        iou_threshold=0.3,
        score_threshold=0.05,
    )
    expected = slow_soft_nms(
        boxes.tolist(), scores.tolist(), classes.tolist(), method, 0.5, 0.3, 0.05
    )
    assert keep.tolist() == [i for i, _ in expected]
    np.testing.assert_allclose(new_scores.numpy(), [s for _, s in expected], rtol=1e-5)
    assert 30 < len(expected) < 300  # some decayed below the threshold, not all


def test_soft_nms_of_nothing():
    keep, scores = batched_soft_nms(
        torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long)
    )
    assert keep.shape == (0,) and scores.shape == (0,)


# ------------------------------------------------------------------------------------------
# The model
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shapes_cfg():
    return load_config(SHAPES_LAZY)


def test_training_with_empty_images_and_one_object(shapes_cfg):
    model = build_shapes_model(shapes_cfg)
    empty = random_input(200, 249, [], [])
    losses = check_losses_and_gradients(model, [empty])
    assert losses["loss_cornernet_hm_tl"] > 0 and losses["loss_cornernet_hm_br"] > 0
    for key in ("pull", "push", "offset"):
        assert losses[f"loss_cornernet_{key}"] == 0
    one = random_input(131, 97, [[10, 20, 90, 120]], [3], seed=1)
    losses = check_losses_and_gradients(model, [empty, one])
    assert losses["loss_cornernet_push"] == 0 and losses["loss_cornernet_offset"] > 0


@odd_sized_batches
def test_training_and_inference_batch_sizes_and_odd_image_sizes(shapes_cfg, sizes):
    model = build_shapes_model(shapes_cfg)
    batch = two_object_batch(sizes)
    losses = check_losses_and_gradients(model, batch)
    assert losses["loss_cornernet_push"] > 0
    model.eval()
    inputs = [{k: v for k, v in x.items() if k != "instances"} for x in batch]
    for flip_test in (False, True):
        model.flip_test = flip_test
        # Untrained: keep every candidate (all corners have the same embedding sign by chance).
        model.postprocessor = CornerNetPostprocessor(embedding_thresh=1e9, score_thresh=0.0)
        with torch.no_grad():
            outputs = model(inputs)
        assert len(outputs) == len(batch)
        for output, (h, w) in zip(outputs, sizes):
            result = output["instances"]
            assert result.image_size == (h, w) and 0 < len(result) <= 100
            boxes = result.pred_boxes.tensor
            assert (boxes[:, 0::2] <= w).all() and (boxes[:, 1::2] <= h).all()
            assert (boxes >= 0).all() and (boxes[:, 2:] > boxes[:, :2]).all()
            assert ((result.scores >= 0) & (result.scores <= 1)).all()


def test_losses_are_averaged_over_stacks(shapes_cfg):
    """Two heads on a two-stack hourglass: the model's losses are the mean of each head's."""
    cfg = copy.deepcopy(shapes_cfg)
    cfg.model.backbone.num_stacks = 2
    cfg.model.head_in_features = ["hg1", "hg2"]
    cfg.model.heads = [cfg.model.heads[0], cfg.model.heads[0]]
    model = build_shapes_model(cfg)
    batch = [random_input(96, 128, [[8, 10, 60, 50], [70, 30, 125, 90]], [1, 4])]
    model.train()
    images = model.preprocess_image(batch)
    predictions = model.predict_heads(model.backbone(images.tensor))
    assert len(predictions) == 2
    gt = [batch[0]["instances"]]
    targets = model.target_generator(predictions[0].tl_heatmap.shape[-2:], 4, gt)
    per_head = [cornernet_losses(p, targets, **model.loss_kwargs) for p in predictions]
    losses = model.losses(predictions, gt)
    for key in LOSS_KEYS:
        torch.testing.assert_close(losses[key], (per_head[0][key] + per_head[1][key]) / 2)
    assert not torch.equal(per_head[0]["loss_cornernet_hm_tl"], per_head[1]["loss_cornernet_hm_tl"])


def test_mismatched_parts_are_refused(shapes_cfg):
    cfg = copy.deepcopy(shapes_cfg)
    cfg.model.head_in_features = ["hg1", "hg2"]
    with pytest.raises(ValueError, match="1 heads for 2 head_in_features"):
        instantiate(cfg.model)
    cfg = copy.deepcopy(shapes_cfg)
    cfg.model.target_generator.num_classes = 3
    with pytest.raises(ValueError, match="target_generator.num_classes"):
        instantiate(cfg.model)


# ------------------------------------------------------------------------------------------
# Configs and the predictor
# ------------------------------------------------------------------------------------------


def test_paper_settings_of_hourglass104():
    cfg = load_config(os.path.join(CORNERNET_CONFIGS, "cornernet_hourglass104.py"))
    model = instantiate(cfg.model)
    assert model.head_in_features == ["hg1", "hg2"] and len(model.heads) == 2 and model.stride == 4
    assert model.heads[0] is not model.heads[1]
    assert 195e6 < sum(p.numel() for p in model.parameters()) < 205e6  # 201M in the paper
    torch.testing.assert_close(
        model.heads[1].bottom_right.heatmap[-1].bias, torch.full((80,), -2.19)
    )
    assert model.loss_kwargs == dict(
        focal_loss_alpha=2.0,
        focal_loss_beta=4.0,
        pull_weight=0.1,
        push_weight=0.1,
        offset_weight=1.0,
        push_margin=1.0,
        embedding_loss_reduction="sum",  # the original's (configs/CornerNet/common/original.py)
    )
    assert (model.target_generator.min_overlap, model.target_generator.radius_formula) == (
        0.3,
        "corrected",
    )
    assert model.target_generator.radius_from_ceiled_size
    post = model.postprocessor
    assert (post.topk, post.peak_kernel, post.embedding_thresh, post.nms_type) == (
        100,
        3,
        0.5,
        "soft_gaussian",
    )
    assert post.max_detections_per_image == 100 and model.flip_test
    assert cfg.dataloader.train.total_batch_size == 49 and cfg.optimizer.lr == 2.5e-4
    assert cfg.train.max_iter == 500000 and cfg.lr_multiplier.milestones == [450000]
    assert cfg.optimizer._target_ is torch.optim.Adam


def test_default_predictor_through_get_predictor_cfg(tmp_path):
    options = ["model.postprocessor.embedding_thresh=1e9"]  # untrained: pair any corners
    options += ["model.postprocessor.score_thresh=0.0"]
    check_default_predictor(SHAPES_LAZY, tmp_path, options)


# ------------------------------------------------------------------------------------------
# Over-fit on embedded images
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_overfits_four_embedded_images(shapes_cfg, tmp_path):
    """The first 4 non-empty images of the tiny embedded split (31 objects, 6-218 px), no
    augmentation, Adam at 1e-3 (the CPU config's): AP50 >= 0.9 on those images within 60
    iterations (about 30-40 suffice)."""
    data = overfit_set("anchorfree_cornernet_test_overfit4", shapes_cfg)
    model = build_shapes_model(shapes_cfg)
    base_lr = shapes_cfg.optimizer.lr
    optimizer = torch.optim.Adam(model.parameters(), lr=base_lr)
    scores = train_until_ap50(
        model, optimizer, base_lr, data, str(tmp_path), max_iter=60, eval_every=10, eval_from=30
    )
    assert scores[-1] >= 90, scores
