"""The switches that reproduce the original CornerNet code's conventions (princeton-vl/CornerNet;
table in projects/anchorfree/cornernet/README.md), each on a hand case whose expected value is
the original's formula written out as plain arithmetic, next to this project's default; and the
config fragment that sets them all.
"""

import math
import os
import runpy

import pytest
import torch
from detector_testing import instances, logit, one_thread  # noqa: F401  (autouse fixture)

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
from anchorfree.config import load_config
from anchorfree.cornernet import (
    CornerNetPostprocessor,
    CornerNetTargetGenerator,
    CornerPredictions,
    associative_embedding_loss,
    batched_soft_nms,
)
from anchorfree.modeling.heatmap_loss import clamped_sigmoid
from anchorfree.modeling.peaks import suppress_non_peaks

from detectron2.config import instantiate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORNERNET_CONFIGS = os.path.join(REPO, "configs", "CornerNet")
use_original_conventions = runpy.run_path(os.path.join(CORNERNET_CONFIGS, "common", "original.py"))[
    "use_original_conventions"
]

# ------------------------------------------------------------------------------------------
# Soft-NMS (external/nms.pyx, soft_nms)
# ------------------------------------------------------------------------------------------


def plus_one_iou(a, b):
    """nms.pyx's overlap: iw = min(x2) - max(x1) + 1, ih likewise, areas (x2 - x1 + 1)(...)."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return iw * ih / (area_a + area_b - iw * ih)


def test_soft_nms_legacy_plus_one():
    """A (0, 0, 9, 9) 0.9, B (0, 0, 9, 4) 0.8, C (9.5, 0, 19, 9) 0.7, one class, Gaussian sigma
    0.5. +1 convention: IoU(A, B) = 10*5 / (100 + 50 - 50) = 0.5; C is 0.5 px right of A's
    last column, which nms.pyx counts as overlapping: iw = 9 - 9.5 + 1 = 0.5, IoU(A, C) =
    5 / (100 + 105 - 5) = 0.025; IoU(B, C) = 0.5*5 / (50 + 105 - 2.5). Continuous boxes:
    IoU(A, B) = 36/81, A and C do not overlap."""
    boxes = [[0.0, 0, 9, 9], [0, 0, 9, 4], [9.5, 0, 19, 9]]
    scores = [0.9, 0.8, 0.7]
    assert plus_one_iou(boxes[0], boxes[1]) == 0.5 and plus_one_iou(boxes[0], boxes[2]) == 0.025
    args = (torch.tensor(boxes), torch.tensor(scores), torch.zeros(3, dtype=torch.long))

    keep, new_scores = batched_soft_nms(*args, legacy_plus_one=True)
    c_after_a = 0.7 * math.exp(-(0.025**2) / 0.5)
    b_after_a = 0.8 * math.exp(-(0.5**2) / 0.5)
    assert c_after_a > b_after_a
    b_after_c = b_after_a * math.exp(-(plus_one_iou(boxes[1], boxes[2]) ** 2) / 0.5)
    assert keep.tolist() == [0, 2, 1]
    torch.testing.assert_close(new_scores, torch.tensor([0.9, c_after_a, b_after_c]))

    keep, new_scores = batched_soft_nms(*args)
    b_default = 0.8 * math.exp(-((36 / 81) ** 2) / 0.5)
    assert keep.tolist() == [0, 2, 1]
    torch.testing.assert_close(new_scores, torch.tensor([0.9, 0.7, b_default]))


def test_soft_nms_strict_linear_threshold():
    """IoU(A, B) = 50/100 = 0.5 exactly, at the linear threshold 0.5: decayed to 0.8 * 0.5 by
    default (>=), untouched under nms.pyx's rule (ov > Nt)."""
    args = (
        torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5]]),
        torch.tensor([0.9, 0.8]),
        torch.zeros(2, dtype=torch.long),
    )
    _, scores = batched_soft_nms(*args, method="linear", iou_threshold=0.5)
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.4]))
    _, scores = batched_soft_nms(
        *args, method="linear", iou_threshold=0.5, strict_linear_threshold=True
    )
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.8]))
    # The same as nms.pyx sees it: pixel-inclusive (0, 0, 9, 9) and (0, 0, 9, 4), IoU 50/100.
    args = (torch.tensor([[0.0, 0, 9, 9], [0, 0, 9, 4]]),) + args[1:]
    for strict, expected in ((True, 0.8), (False, 0.4)):
        _, scores = batched_soft_nms(
            *args,
            method="linear",
            iou_threshold=0.5,
            legacy_plus_one=True,
            strict_linear_threshold=strict,
        )
        torch.testing.assert_close(scores, torch.tensor([0.9, expected]))


def test_soft_nms_discard_overlapping_only():
    """Score threshold 0.001. A 0.9 (class 0); B 0.0005 apart from everything else of its
    class; E 0.0003 overlapping B only; C 0.0004 overlapping A only; D 0.0002, alone in
    class 1. nms.pyx tests the threshold only after a decay by an overlapping selected box:
    A is selected and decays C below the threshold (dropped); B, overlapping no selected
    box, is selected and decays E (dropped); D is the best of its class, never tested. By
    default every box under the threshold is dropped from the start."""
    boxes = torch.tensor(
        [
            [0.0, 0, 10, 10],  # A
            [50, 50, 60, 60],  # B
            [52, 50, 62, 60],  # E
            [1, 1, 9, 9],  # C
            [0, 0, 10, 10],  # D
        ]
    )
    scores = torch.tensor([0.9, 0.0005, 0.0003, 0.0004, 0.0002])
    classes = torch.tensor([0, 0, 0, 0, 1])
    keep, new_scores = batched_soft_nms(boxes, scores, classes, discard_overlapping_only=True)
    assert keep.tolist() == [0, 1, 4]
    torch.testing.assert_close(new_scores, torch.tensor([0.9, 0.0005, 0.0002]))
    keep, _ = batched_soft_nms(boxes, scores, classes)
    assert keep.tolist() == [0]


def test_soft_nms_of_empty_boxes():
    """Zero-size boxes (kept with ``keep_zero_size_boxes``): two equal points do not overlap
    as continuous boxes (no 0/0); as pixel-inclusive boxes they are the same pixel, IoU 1."""
    args = (
        torch.tensor([[4.0, 4, 4, 4], [4, 4, 4, 4]]),
        torch.tensor([0.9, 0.8]),
        torch.zeros(2, dtype=torch.long),
    )
    _, scores = batched_soft_nms(*args)
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.8]))
    _, scores = batched_soft_nms(*args, legacy_plus_one=True)
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.8 * math.exp(-1 / 0.5)]))


# ------------------------------------------------------------------------------------------
# Decoding (kp_utils.py _decode, test/coco.py)
# ------------------------------------------------------------------------------------------


def corner_maps(grid=(16, 16), num_classes=2):
    """Background at probability ~0, embeddings far apart: only placed corners pair."""
    h, w = grid
    return CornerPredictions(
        tl_heatmap=torch.full((1, num_classes, h, w), -10.0),
        br_heatmap=torch.full((1, num_classes, h, w), -10.0),
        tl_embedding=torch.full((1, 1, h, w), 10.0),
        br_embedding=torch.full((1, 1, h, w), -10.0),
        tl_offset=torch.zeros(1, 2, h, w),
        br_offset=torch.zeros(1, 2, h, w),
    )


def place(maps, corner, x, y, prob):
    getattr(maps, f"{corner}_heatmap")[0, 0, y, x] = logit(prob)
    getattr(maps, f"{corner}_embedding")[0, 0, y, x] = 0.0


def as_probs(maps):
    return maps._replace(
        tl_heatmap=clamped_sigmoid(maps.tl_heatmap, 1e-4),
        br_heatmap=clamped_sigmoid(maps.br_heatmap, 1e-4),
    )


def test_keep_zero_size_boxes():
    """Top-left corner at cell (2, 3); bottom-right corners at (2, 10) (same x: width 0), at
    (8, 3) (same y: height 0), at (2, 3) (a point) and at (13, 14): _decode rejects only
    br < tl, so all four pair; at stride 4 on a 40 x 48 image (y, x), the last box
    (8, 12, 52, 56) is clipped to (8, 12, 48, 40). A second top-left corner at (13, 12) pairs
    with (13, 14): (52, 48, 52, 56), outside the image, clipped to (48, 40, 48, 40), empty;
    test/coco.py clips and keeps it."""
    maps = corner_maps()
    place(maps, "tl", 2, 3, 0.9)
    place(maps, "tl", 13, 12, 0.8)
    for x, y, p in [(2, 10, 0.7), (8, 3, 0.6), (2, 3, 0.5), (13, 14, 0.4)]:
        place(maps, "br", x, y, p)
    original = CornerNetPostprocessor(nms_type="none", keep_zero_size_boxes=True)
    (candidates,) = original.decode(as_probs(maps), 4)
    found = {
        tuple(b): round(s, 6) for b, s in zip(candidates.boxes.tolist(), candidates.scores.tolist())
    }
    assert found == {
        (8.0, 12.0, 8.0, 40.0): 0.8,
        (8.0, 12.0, 32.0, 12.0): 0.75,
        (8.0, 12.0, 8.0, 12.0): 0.7,
        (8.0, 12.0, 52.0, 56.0): 0.65,
        (52.0, 48.0, 52.0, 56.0): 0.6,
    }
    (result,) = original(as_probs(maps), 4, [(40, 48)])
    assert result.pred_boxes.tensor.tolist() == [
        [8.0, 12.0, 8.0, 40.0],
        [8.0, 12.0, 32.0, 12.0],
        [8.0, 12.0, 8.0, 12.0],
        [8.0, 12.0, 48.0, 40.0],
        [48.0, 40.0, 48.0, 40.0],
    ]
    (result,) = CornerNetPostprocessor(nms_type="none")(as_probs(maps), 4, [(40, 48)])
    assert result.pred_boxes.tensor.tolist() == [[8.0, 12.0, 48.0, 40.0]]


def test_postprocessor_passes_the_soft_nms_switches():
    """Two corner pairs decoded to A (8, 8, 24, 24) and a box with a top-left corner 0.25 px
    right of A's right edge (24.25, 8, 40, 24): no overlap as continuous boxes; nms.pyx's +1
    convention overlaps them (iw = 24 - 24.25 + 1 = 0.75, ih 17): the second is decayed by
    exp(-IoU^2 / 0.5). (The cross pair (8, 8, 40, 24), 0.8, IoU 0.5 with A, falls to
    0.8 exp(-0.5) < 0.7 and is selected after it: it does not decay the second box first.)"""
    maps = corner_maps()
    place(maps, "tl", 2, 2, 0.9)
    place(maps, "br", 6, 6, 0.9)
    place(maps, "tl", 6, 2, 0.7)
    maps.tl_offset[0, 0, 2, 6] = 0.0625
    place(maps, "br", 10, 6, 0.7)
    a, b = [8.0, 8, 24, 24], [24.25, 8, 40, 24]
    iou = plus_one_iou(a, b)
    assert iou > 0

    post = CornerNetPostprocessor(soft_nms_legacy_plus_one=True)
    (result,) = post(as_probs(maps), 4, [(64, 64)])
    kept = dict(zip(map(tuple, result.pred_boxes.tensor.tolist()), result.scores.tolist()))
    assert kept[tuple(b)] == pytest.approx(0.7 * math.exp(-(iou**2) / 0.5), rel=1e-6)
    (result,) = CornerNetPostprocessor()(as_probs(maps), 4, [(64, 64)])
    kept = dict(zip(map(tuple, result.pred_boxes.tensor.tolist()), result.scores.tolist()))
    assert kept[tuple(b)] == pytest.approx(0.7, rel=1e-6)


# ------------------------------------------------------------------------------------------
# Targets (sample/coco.py kp_detection)
# ------------------------------------------------------------------------------------------


def original_gaussian_radius(height, width, min_overlap):
    """sample/utils.py gaussian_radius, as plain arithmetic."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 - math.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 - math.sqrt(b2**2 - 16 * c2)) / 8
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / (2 * a3)
    return min(r1, r2, r3)


def test_radius_from_ceiled_size():
    """Box (8, 8, 25, 25) at stride 4: 4.25 x 4.25 cells. The original takes the radius of
    (ceil 4.25, ceil 4.25) = 5 x 5: max(0, int(1.13)) = 1, a 3x3 Gaussian; of 4.25 x 4.25
    itself it is int(0.96) = 0, the corner cell only."""
    original = max(0, int(original_gaussian_radius(math.ceil(4.25), math.ceil(4.25), 0.3)))
    unrounded = max(0, int(original_gaussian_radius(4.25, 4.25, 0.3)))
    assert (original, unrounded) == (1, 0)
    gt = [instances([[8, 8, 25, 25]], [0])]
    for ceiled, radius in ((True, original), (False, unrounded)):
        generator = CornerNetTargetGenerator(num_classes=1, radius_from_ceiled_size=ceiled)
        assert generator.radii(torch.tensor([4.25]), torch.tensor([4.25])).tolist() == [radius]
        targets = generator((16, 16), 4, gt)
        for heatmap, (x, y) in ((targets.tl_heatmap, (2, 2)), (targets.br_heatmap, (6, 6))):
            rows, cols = heatmap[0, 0].nonzero().unbind(1)
            assert (rows.min(), rows.max(), cols.min(), cols.max()) == (
                y - radius,
                y + radius,
                x - radius,
                x + radius,
            )
    # Whole sizes are unchanged by the rounding.
    generator = CornerNetTargetGenerator(num_classes=1, radius_from_ceiled_size=True)
    sizes = torch.tensor([5.0, 6.0, 17.0])
    assert generator.radii(sizes, sizes).tolist() == [
        max(0, int(original_gaussian_radius(s, s, 0.3))) for s in (5, 6, 17)
    ]


# ------------------------------------------------------------------------------------------
# Embedding losses (kp_utils.py _ae_loss)
# ------------------------------------------------------------------------------------------


def original_ae_loss_per_image(tl, br):
    """_ae_loss of one image with n objects, as plain arithmetic: pull divides by n + 1e-4;
    push sums relu(1 - |e_k - e_j|) - 1/(n + 1e-4) over all n^2 pairs and divides by
    n(n-1) + 1e-4."""
    n = len(tl)
    means = [(a + b) / 2 for a, b in zip(tl, br)]
    pull = sum(
        (a - m) ** 2 / (n + 1e-4) + (b - m) ** 2 / (n + 1e-4) for a, b, m in zip(tl, br, means)
    )
    push = sum(
        (max(0.0, 1 - abs(mk - mj)) - 1 / (n + 1e-4)) / ((n - 1) * n + 1e-4)
        for mk in means
        for mj in means
    )
    return pull, push


def test_embedding_loss_summed_over_images():
    """The original sums the per-image losses over the images (its chunk of the batch).
    Images: two objects (tl 0, 1.2; br 0.4, 1.0: pull 0.1 / 2, push 2 * 0.1 / 2), one object
    (tl 2, br 1: pull 0.5), none, three (equal corners 0, 0.5, 3: pull 0, push 1 / 6). The
    sum: pull 0.55, push 0.1 + 1/6. The original's formula gives the same up to its 1e-4
    terms, except for its one-object image's push 1/(1 + 1e-4), which is not reproduced."""
    objects = [([0.0, 1.2], [0.4, 1.0]), ([2.0], [1.0]), ([], []), ([0.0, 0.5, 3.0],) * 2]
    tl = torch.zeros(4, 3)
    br = torch.zeros(4, 3)
    mask = torch.zeros(4, 3, dtype=torch.bool)
    for i, (t, b) in enumerate(objects):
        tl[i, : len(t)] = torch.tensor(t)
        br[i, : len(b)] = torch.tensor(b)
        mask[i, : len(t)] = True
    pull, push = associative_embedding_loss(tl, br, mask, reduction="sum")
    torch.testing.assert_close(pull, torch.tensor(0.55))
    torch.testing.assert_close(push, torch.tensor(0.1 + 1 / 6))

    per_image = [original_ae_loss_per_image(t, b) for t, b in objects if t]
    assert per_image[1][1] == pytest.approx(1 / (1 + 1e-4))  # the one-object artifact
    original_pull = sum(p for p, _ in per_image)
    original_push = sum(
        q for (t, _), (_, q) in zip([o for o in objects if o[0]], per_image) if len(t) > 1
    )
    assert pull.item() == pytest.approx(original_pull, abs=1e-4)
    assert push.item() == pytest.approx(original_push, abs=1e-4)

    mean_pull, mean_push = associative_embedding_loss(tl, br, mask)
    torch.testing.assert_close(mean_pull, torch.tensor(0.55 / 3))
    torch.testing.assert_close(mean_push, torch.tensor((0.1 + 1 / 6) / 2))


def test_unknown_embedding_loss_reduction_is_refused():
    with pytest.raises(ValueError, match="embedding_loss_reduction"):
        associative_embedding_loss(
            torch.zeros(1, 1),
            torch.zeros(1, 1),
            torch.ones(1, 1, dtype=torch.bool),
            reduction="avg",
        )


# ------------------------------------------------------------------------------------------
# The config fragment and the test-time sigmoid
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def original_model():
    cfg = load_config(os.path.join(CORNERNET_CONFIGS, "cornernet_hourglass_small_shapes.py"))
    use_original_conventions(cfg.model)
    return instantiate(cfg.model)


def test_original_conventions_fragment(original_model):
    model = original_model
    assert model.clamp_test_probs is False
    assert model.loss_kwargs["embedding_loss_reduction"] == "sum"
    assert model.target_generator.radius_from_ceiled_size is True
    post = model.postprocessor
    assert post.keep_zero_size_boxes is True
    assert post.soft_nms_options == dict(
        legacy_plus_one=True, strict_linear_threshold=True, discard_overlapping_only=True
    )
    # The converted-weight config takes the same keys.
    cfg = load_config(os.path.join(CORNERNET_CONFIGS, "cornernet_hourglass104.py"))
    use_original_conventions(cfg.model)
    assert cfg.model.postprocessor.soft_nms_discard_overlapping_only is True


def test_unclamped_test_probabilities(original_model):
    """_decode takes torch.sigmoid of the heatmaps, unclamped: probabilities under 1e-4 stay
    distinct. In a row of logits -12, -11, -10, 5 only the last cell is the maximum of its
    window; clamped to 1e-4, the first two are tied maxima and pass the peak test too."""
    logits = torch.tensor([[[[-12.0, -11.0, -10.0, 5.0]]]])
    probs = original_model.heatmap_probs(logits)
    torch.testing.assert_close(probs, torch.sigmoid(logits))
    assert probs[0, 0, 0, 0] < 1e-5
    original_model.clamp_test_probs = True
    try:
        clamped = original_model.heatmap_probs(logits)
    finally:
        original_model.clamp_test_probs = False
    torch.testing.assert_close(clamped, torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4))
    assert clamped[0, 0, 0, :3].tolist() == [pytest.approx(1e-4)] * 3
    assert suppress_non_peaks(probs, 3)[0, 0, 0].nonzero().flatten().tolist() == [3]
    assert suppress_non_peaks(clamped, 3)[0, 0, 0].nonzero().flatten().tolist() == [0, 1, 3]
