"""
Test-time augmentation of the three detectors (``flip_test``, ``test_scales``): the shared
resizing, mirroring and merge helpers and each detector's merge of the scales on hand cases;
flip symmetry on an image equal to its mirror; the one scale 1.0 equal to the plain model;
multi-scale runs at random weights checked against the merge rule each detector states; the
options reaching the model from the LazyConfig, through ``forward`` and the predictor.
"""

import os

import numpy as np
import pytest
import torch
from detector_testing import one_thread  # noqa: F401  (an autouse fixture)
from torchvision.ops import box_iou

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.centernet import merge_scales
from anchorfree.config import get_predictor_cfg, load_config
from anchorfree.data.synthetic_shapes import NUM_CLASSES
from anchorfree.engine import Predictor
from anchorfree.modeling.test_time_augmentation import (
    Detections,
    check_test_scales,
    flipped_batch,
    mirror_boxes,
    nms_merge,
    rescale_boxes,
    resize_batch,
    scaled_size,
)

from detectron2.config import instantiate
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import ImageList

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {
    "fcos": "configs/FCOS/fcos_narrow_FPN_shapes_demo.py",
    "centernet": "configs/CenterNet/centernet_narrow_FPN_P2_shapes_demo.py",
    "cornernet": "configs/CornerNet/cornernet_hourglass_small_shapes.py",
}
# Random weights: keep every candidate (FCOS's display threshold; CornerNet's embeddings all
# look alike).
RANDOM_WEIGHTS = {
    "fcos": ["model.postprocessor.score_thresh=0.0"],
    "centernet": [],
    "cornernet": [
        "model.postprocessor.embedding_thresh=1e9",
        "model.postprocessor.score_thresh=0.0",
    ],
}
ODD_SIZES = [(97, 131), (120, 90)]  # (H, W), not multiples of the size divisibility (32)


def build(detector, overrides=(), seed=0):
    torch.manual_seed(seed)
    path = os.path.join(REPO, CONFIGS[detector])
    return instantiate(load_config(path, RANDOM_WEIGHTS[detector] + list(overrides)).model).eval()


def random_images(sizes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=generator).float() for h, w in sizes]


def detect(model, images):
    """The model's detections of each image (through ``forward``, as the evaluation runs it)."""
    with torch.no_grad():
        return [o["instances"] for o in model([{"image": x} for x in images])]


def rows(instances):
    """A detection set as sorted ``(score, class, x0, y0, x1, y1)`` rows: equal sets, whatever
    the order of equal scores."""
    table = torch.cat(
        [
            instances.scores[:, None].double(),
            instances.pred_classes[:, None].double(),
            instances.pred_boxes.tensor.double(),
        ],
        1,
    )
    return sorted(map(tuple, table.tolist()))


def find(boxes, scores, classes, box, score, cls, score_atol=1e-6):
    """Indices of the detections of class ``cls`` with ``box`` (within 1e-3 px) and ``score``
    (within ``score_atol``; None: any score)."""
    same = (classes == cls) & ((boxes - box).abs() <= 1e-3).all(1)
    if score is not None:
        same &= (scores - score).abs() <= score_atol
    return same.nonzero().flatten().tolist()


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def test_test_scales_are_checked():
    assert check_test_scales([0.5, 1]) == (0.5, 1.0)
    for bad in ([], [0.0], [1.0, -0.5], [float("inf")], "abc", None):
        with pytest.raises(ValueError, match="test_scales must be"):
            check_test_scales(bad)
    for detector in CONFIGS:
        with pytest.raises(ValueError, match="test_scales must be"):
            build(detector, ["model.test_scales=[]"])


def test_resize_batch_resizes_each_unpadded_image_and_pads_again():
    images = ImageList.from_tensors(
        [torch.full((3, 97, 131), 2.0), torch.full((3, 40, 50), -1.0)], 32
    )
    assert images.tensor.shape == (2, 3, 128, 160)
    assert resize_batch(images, 1.0, 32) is images
    assert scaled_size((97, 131), 0.5) == (49, 66) and scaled_size((97, 131), 1.5) == (146, 197)
    assert scaled_size((3, 5), 0.1) == (1, 1)
    half = resize_batch(images, 0.5, 32)
    assert half.image_sizes == [(49, 66), (20, 25)] and half.tensor.shape == (2, 3, 64, 96)
    # Constant images stay constant: the padding of the batch is not blended in at the edges.
    torch.testing.assert_close(half.tensor[0, :, :49, :66], torch.full((3, 49, 66), 2.0))
    torch.testing.assert_close(half.tensor[1, :, :20, :25], torch.full((3, 20, 25), -1.0))
    assert half.tensor[0, :, 49:].abs().sum() == 0 and half.tensor[0, :, :, 66:].abs().sum() == 0
    assert half.tensor[1, :, 20:].abs().sum() == 0 and half.tensor[1, :, :, 25:].abs().sum() == 0


def test_rescale_boxes_maps_by_the_ratio_of_the_sizes_and_clips():
    boxes = torch.tensor([[0.0, 0.0, 66.0, 49.0], [11.0, 7.0, 33.0, 24.5], [-3.0, 1.0, 70.0, 50.0]])
    got = rescale_boxes(boxes, (49, 66), (97, 131))
    rx, ry = 131 / 66, 97 / 49
    expected = torch.tensor(
        [[0, 0, 131, 97], [11 * rx, 7 * ry, 33 * rx, 24.5 * ry], [0, ry, 131, 97]]
    )
    torch.testing.assert_close(got, expected)
    # At the same size only the clipping.
    assert rescale_boxes(boxes, (97, 131), (97, 131)).tolist() == [
        [0, 0, 66, 49],
        [11, 7, 33, 24.5],
        [0, 1, 70, 50],
    ]


def test_mirror_boxes_and_flipped_batches():
    assert mirror_boxes(torch.tensor([[10.0, 1, 30, 5]]), 100).tolist() == [[70.0, 1, 90, 5]]
    first = torch.arange(18.0).reshape(3, 2, 3)
    second = torch.arange(60.0).reshape(3, 4, 5) + 100
    images = ImageList.from_tensors([first, second], 4)
    assert images.tensor.shape == (2, 3, 4, 8)
    # Every image mirrored, then padded: what from_tensors of the images and their mirrors gives.
    per_image = flipped_batch(images, padded=False)
    expected = ImageList.from_tensors([first, second, first.flip(-1), second.flip(-1)], 4)
    assert torch.equal(per_image.tensor, expected.tensor)
    assert per_image.image_sizes == [(2, 3), (4, 5)] * 2
    # The padded batch mirrored as a whole.
    whole = flipped_batch(images, padded=True)
    assert torch.equal(whole.tensor, torch.cat([images.tensor, images.tensor.flip(3)]))


# ------------------------------------------------------------------------------------------
# The merges, by hand
# ------------------------------------------------------------------------------------------


def _two_scales():
    """One object (class 1) seen at both scales; a class-2 object at each, one inside the
    class-1 box."""
    scale_1 = Detections(
        torch.tensor([[10.0, 10, 50, 50], [60, 10, 90, 40]]),
        torch.tensor([0.9, 0.5]),
        torch.tensor([1, 2]),
    )
    # IoU of the two class-1 boxes: 39 * 39 / (1600 + 1600 - 1521) = 0.906.
    scale_2 = Detections(
        torch.tensor([[11.0, 9, 51, 49], [12, 12, 48, 48]]),
        torch.tensor([0.8, 0.7]),
        torch.tensor([1, 2]),
    )
    return [scale_1, scale_2]


def test_nms_merge_collapses_one_object_seen_at_two_scales():
    boxes, scores, classes = nms_merge(_two_scales(), 0.6, 100, (100, 100))
    assert boxes.tolist() == [[10, 10, 50, 50], [12, 12, 48, 48], [60, 10, 90, 40]]
    assert scores.tolist() == pytest.approx([0.9, 0.7, 0.5])
    assert classes.tolist() == [1, 2, 2]
    # The best max_detections.
    boxes, scores, _ = nms_merge(_two_scales(), 0.6, 2, (100, 100))
    assert boxes.tolist() == [[10, 10, 50, 50], [12, 12, 48, 48]]
    # Above the threshold's IoU the two stay.
    _, scores, _ = nms_merge(_two_scales(), 0.95, 100, (100, 100))
    assert scores.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.5])
    # A box without area (clipped away at the image's edge), at both scales, is left out.
    edge = Detections(torch.tensor([[100.0, 20, 100, 30]]), torch.tensor([0.95]), torch.tensor([1]))
    boxes, _, _ = nms_merge([edge, *_two_scales(), edge], 0.6, 100, (100, 100))
    assert boxes.tolist() == [[10, 10, 50, 50], [12, 12, 48, 48], [60, 10, 90, 40]]


def test_centernet_merges_scales_with_gaussian_soft_nms_then_the_top_k():
    # Scale 1: A (class 0) and C (class 0, apart); scale 2: B (A's object, IoU 0.8), D (class 1
    # on A's box), E (IoU 0.9 with A, weak).
    scale_1 = Detections(
        torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]),
        torch.tensor([0.9, 0.5]),
        torch.tensor([0, 0]),
    )
    scale_2 = Detections(
        torch.tensor([[0.0, 0, 10, 8], [0, 0, 10, 10], [1, 0, 10, 10]]),
        torch.tensor([0.6, 0.4, 0.004]),
        torch.tensor([0, 1, 0]),
    )
    boxes, scores, classes = merge_scales([scale_1, scale_2], topk=100)
    # B decays by exp(-0.8^2 / 0.5); E to 0.004 exp(-0.81 / 0.5) = 0.0008 < 0.001: dropped; D
    # is of another class, C does not overlap.
    assert boxes.tolist() == [[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10], [0, 0, 10, 8]]
    assert scores.tolist() == pytest.approx([0.9, 0.5, 0.4, 0.6 * np.exp(-0.64 / 0.5)])
    assert classes.tolist() == [0, 0, 1, 0]
    boxes, _, classes = merge_scales([scale_1, scale_2], topk=3)
    assert classes.tolist() == [0, 0, 1] and boxes[2].tolist() == [0, 0, 10, 10]
    # One scale: no soft-NMS (as the original), the top K by score.
    boxes, scores, _ = merge_scales([scale_2], topk=2)
    assert boxes.tolist() == [[0, 0, 10, 8], [0, 0, 10, 10]]
    assert scores.tolist() == pytest.approx([0.6, 0.4])


def test_cornernet_suppresses_the_candidates_of_all_scales_together():
    model = build("cornernet")
    post = model.postprocessor
    assert (post.nms_type, post.soft_nms_sigma) == ("soft_gaussian", 0.5)
    scale_1 = Detections(torch.tensor([[10.0, 10, 50, 50]]), torch.tensor([0.9]), torch.tensor([0]))
    # The same object at the other scale (IoU 0.9), and a box reaching out of the image.
    scale_2 = Detections(
        torch.tensor([[10.0, 10, 50, 46], [-5, 20, 30, 200]]),
        torch.tensor([0.8, 0.7]),
        torch.tensor([0, 3]),
    )
    merged = model.merge_scales([scale_1, scale_2], (100, 100))
    assert merged.image_size == (100, 100)
    assert merged.pred_boxes.tensor.tolist() == [
        [10, 10, 50, 50],
        [0, 20, 30, 100],
        [10, 10, 50, 46],
    ]
    assert merged.scores.tolist() == pytest.approx([0.9, 0.7, 0.8 * np.exp(-0.81 / 0.5)])
    assert merged.pred_classes.tolist() == [0, 3, 0]


# ------------------------------------------------------------------------------------------
# Flip test on a mirror-symmetric image
# ------------------------------------------------------------------------------------------


def symmetric_image(height, width, seed=0):
    """A random image equal to its mirror image (``width`` even)."""
    half = random_images([(height, width // 2)], seed)[0]
    image = torch.cat([half, half.flip(-1)], dim=-1)
    assert torch.equal(image, image.flip(-1))
    return image


def with_sizes(centernet):
    """A random CenterNet with boxes of a few cells (its size branch starts near 0)."""
    with torch.no_grad():
        centernet.head.wh[-1][-1].bias.copy_(torch.tensor([6.0, 4.0]))
    return centernet


def unmirrored(result, width):
    """The detections whose mirror image (same class, score within 1e-6, box within 1e-3 px)
    is not among the detections."""
    boxes, scores, classes = result.pred_boxes.tensor, result.scores, result.pred_classes
    mirrored = mirror_boxes(boxes, width)
    return [
        i
        for i in range(len(scores))
        if not find(boxes, scores, classes, mirrored[i], scores[i], classes[i])
    ]


# Per detector: (the image's width, the overrides that make every detection and its mirror
# survive the merge). Suppression is off for FCOS and CornerNet: a detection and its own mirror
# image tie, so a suppression keeps one of the two when they overlap (the merge is tested by
# hand above). CenterNet keeps every peak (no cut among equal scores) and mirrors the padded
# batch as a whole, so its image's width is a multiple of the size divisibility.
SYMMETRY = {
    "fcos": (
        90,
        [
            "model.postprocessor.nms_thresh=1.0",
            "model.postprocessor.max_detections_per_image=10000",
        ],
    ),
    "centernet": (96, [f"model.postprocessor.topk={NUM_CLASSES * 16 * 24}"]),
    "cornernet": (
        90,
        ["model.postprocessor.nms_type=none", "model.postprocessor.max_detections_per_image=10000"],
    ),
}


@pytest.mark.parametrize("detector", CONFIGS)
def test_flip_test_of_a_mirror_symmetric_image_is_mirror_symmetric(detector):
    width, overrides = SYMMETRY[detector]
    image = symmetric_image(64, width)
    model = build(detector, overrides + ["model.flip_test=True"])
    if detector == "centernet":
        # Offsets of half a cell everywhere: a center at cell x + 0.5 mirrors to cell
        # (W/4 - 1 - x) + 0.5, which the offsets of the original image alone (the flip test
        # does not average them, as the original) would not give.
        with torch.no_grad():
            model.head.offset[-1][-1].weight.zero_()
            model.head.offset[-1][-1].bias.fill_(0.5)
        with_sizes(model)
    (flipped,) = detect(model, [image])
    assert len(flipped) > 10
    assert unmirrored(flipped, width) == []
    model.flip_test = False
    (plain,) = detect(model, [image])
    # Without the flip test a random network sees no symmetry.
    assert len(unmirrored(plain, width)) > len(plain) // 2
    if detector != "centernet":
        # The detections of the image and of its mirror image, all kept (FCOS's merge leaves
        # out boxes without area).
        assert len(flipped) == 2 * (
            plain.pred_boxes.nonempty().sum() if detector == "fcos" else len(plain)
        )


# ------------------------------------------------------------------------------------------
# One scale
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip"])
@pytest.mark.parametrize("detector", CONFIGS)
def test_the_one_scale_1_is_the_plain_model(detector, flip):
    images = random_images(ODD_SIZES)
    options = [f"model.flip_test={flip}"]
    default = build(detector, options)
    assert default.test_scales == (1.0,)
    expected = detect(default, images)
    one_scale = build(detector, options + ["model.test_scales=[1.0]"])
    for got, want in zip(detect(one_scale, images), expected):
        assert len(want) > 0
        assert torch.equal(got.pred_boxes.tensor, want.pred_boxes.tensor)
        assert torch.equal(got.scores, want.scores)
        assert torch.equal(got.pred_classes, want.pred_classes)
    # The multi-scale path at the one scale 1.0 gives the same detections but those without
    # area, which the merges leave out (as detector_postprocess in forward does). For FCOS,
    # twice the scale 1.0: the merge's NMS removes every duplicate.
    batch = default.preprocess_image([{"image": x} for x in images])
    with torch.no_grad():
        expected = default.inference(batch)
        if detector == "fcos":
            default.test_scales = (1.0, 1.0)
            multi = default.inference(batch)
        else:
            multi = default.multi_scale_inference(batch)
    for got, want in zip(multi, expected):
        assert rows(got) == rows(want[want.pred_boxes.nonempty()])


# ------------------------------------------------------------------------------------------
# Several scales
# ------------------------------------------------------------------------------------------

SCALES = (0.5, 1.0)


def _check_bounds(results, sizes, most):
    for result, (h, w) in zip(results, sizes):
        boxes = result.pred_boxes.tensor
        assert result.image_size == (h, w) and 0 < len(result) <= most
        assert (boxes >= 0).all() and (boxes[:, 0::2] <= w).all() and (boxes[:, 1::2] <= h).all()
        assert (boxes[:, 2:] >= boxes[:, :2]).all()
        assert (result.scores[:-1] >= result.scores[1:]).all()
        assert ((result.pred_classes >= 0) & (result.pred_classes < NUM_CLASSES)).all()


def _views(model, images, flip):
    """Per image, the detections of each view of the multi-scale test (every scale, and every
    mirror image with ``flip``) by the plain model, each mapped back to the image."""
    batch = model.preprocess_image([{"image": x} for x in images])
    views = [[] for _ in images]
    div = model.backbone.size_divisibility
    with torch.no_grad():
        for scale in SCALES:
            scaled = resize_batch(batch, scale, div)
            mirrored = ImageList.from_tensors(
                [
                    scaled.tensor[i, :, :h, :w].flip(-1)
                    for i, (h, w) in enumerate(scaled.image_sizes)
                ],
                div,
            )
            found = [(r, False) for r in model.inference(scaled)]
            if flip:
                found += [(r, True) for r in model.inference(mirrored)]
            for i, (result, is_mirror) in enumerate(found):
                i %= len(images)
                boxes = result.pred_boxes.tensor
                if is_mirror:
                    boxes = mirror_boxes(boxes, scaled.image_sizes[i][1])
                boxes = rescale_boxes(boxes, scaled.image_sizes[i], batch.image_sizes[i])
                views[i].append(Detections(boxes, result.scores, result.pred_classes))
    return views


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip"])
def test_fcos_multi_scale_is_nms_over_every_view_then_the_best(flip):
    """Every view decoded as usual, then over all of them: class-aware NMS at ``nms_thresh``
    and the best ``max_detections_per_image`` (each condition of that rule checked)."""
    images = random_images(ODD_SIZES)
    plain = build("fcos", [f"model.flip_test={flip}"])
    post = plain.postprocessor
    model = build("fcos", [f"model.flip_test={flip}", f"model.test_scales={list(SCALES)}"])
    results = detect(model, images)
    _check_bounds(results, ODD_SIZES, post.max_detections_per_image)
    plain.flip_test = False
    for result, views in zip(results, _views(plain, images, flip)):
        assert len(views) == len(SCALES) * (2 if flip else 1)
        boxes, scores, classes = result.pred_boxes.tensor, result.scores, result.pred_classes
        union = Detections(*(torch.cat(f) for f in zip(*views)))
        nonempty = (union.boxes[:, 2:] > union.boxes[:, :2]).all(1)
        union = Detections(*(f[nonempty] for f in union))
        # Every detection is one of a view (boxes without area left out); some are only the
        # half scale's.
        half = Detections(*(torch.cat(f) for f in zip(*views[: len(views) // 2])))
        full = Detections(*(torch.cat(f) for f in zip(*views[len(views) // 2 :])))
        for box, score, cls in zip(boxes, scores, classes):
            assert find(*union, box, score, cls)
        assert any(
            find(*half, box, score, cls) and not find(*full, box, score, cls)
            for box, score, cls in zip(boxes, scores, classes)
        )
        # No two of one class overlap beyond the threshold ...
        iou = box_iou(boxes, boxes) * (classes[:, None] == classes[None, :])
        assert (iou.triu(1) <= post.nms_thresh).all()
        # ... and each dropped one overlaps a better kept one of its class, or was cut.
        cut = len(result) == post.max_detections_per_image
        kept_iou = box_iou(union.boxes, boxes) * (union.classes[:, None] == classes[None, :])
        for j in range(len(union.scores)):
            if find(boxes, scores, classes, union.boxes[j], union.scores[j], union.classes[j]):
                continue
            suppressed = ((kept_iou[j] > post.nms_thresh) & (scores >= union.scores[j])).any()
            assert suppressed or (cut and union.scores[j] <= scores[-1])


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip"])
def test_centernet_multi_scale_keeps_the_top_k_of_soft_nms_over_the_scales(flip):
    images = random_images(ODD_SIZES)
    plain = with_sizes(build("centernet", [f"model.flip_test={flip}"]))
    topk = plain.postprocessor.topk
    model = build("centernet", [f"model.flip_test={flip}", f"model.test_scales={list(SCALES)}"])
    with_sizes(model)
    results = detect(model, images)
    _check_bounds(results, ODD_SIZES, topk)
    # Each scale with its flip test (averaged maps), as the plain model decodes it.
    batch = plain.preprocess_image([{"image": x} for x in images])
    per_scale = [[] for _ in images]
    with torch.no_grad():
        for scale in SCALES:
            scaled = resize_batch(batch, scale, plain.backbone.size_divisibility)
            for i, r in enumerate(plain.inference(scaled)):
                boxes = rescale_boxes(
                    r.pred_boxes.tensor, scaled.image_sizes[i], batch.image_sizes[i]
                )
                per_scale[i].append(Detections(boxes, r.scores, r.pred_classes))
    for result, sets in zip(results, per_scale):
        union = Detections(*(torch.cat(f) for f in zip(*sets)))
        nonempty = (union.boxes[:, 2:] > union.boxes[:, :2]).all(1)
        union = Detections(*(f[nonempty] for f in union))
        decayed = 0
        for box, score, cls in zip(result.pred_boxes.tensor, result.scores, result.pred_classes):
            # One of a scale's detections, its score only ever lowered by the soft-NMS.
            matches = find(*union, box, None, cls)
            assert matches and score <= union.scores[matches].max() + 1e-6
            decayed += bool(score < union.scores[matches].min() - 1e-6)
        # The best detection decays by nothing; the others of the same objects do.
        assert result.scores[0] == pytest.approx(float(union.scores.max()))
        assert decayed > 0


@pytest.mark.parametrize("flip", [False, True], ids=["plain", "flip"])
def test_cornernet_multi_scale_suppresses_the_candidates_of_every_scale(flip):
    images = random_images(ODD_SIZES)
    options = [f"model.flip_test={flip}"]
    model = build("cornernet", options + [f"model.test_scales={list(SCALES)}"])
    results = detect(model, images)
    _check_bounds(results, ODD_SIZES, model.postprocessor.max_detections_per_image)
    plain = detect(build("cornernet", options), images)
    batch = model.preprocess_image([{"image": x} for x in images])
    with torch.no_grad():
        half = resize_batch(batch, 0.5, model.backbone.size_divisibility)
        candidates = model.candidates(
            model.forward_raw(half, flip=flip), half.image_sizes, flip=flip
        )
    for result, single, half_candidates, from_size, size in zip(
        results, plain, candidates, half.image_sizes, ODD_SIZES
    ):
        boxes = result.pred_boxes.tensor
        assert (boxes[:, 2:] > boxes[:, :2]).all()  # empty boxes dropped
        # The half scale's candidates, mapped back, are among the detections.
        half_boxes = rescale_boxes(half_candidates.boxes, from_size, size)
        from_half = [
            j
            for j in range(len(boxes))
            if find(
                half_boxes,
                half_candidates.scores,
                half_candidates.classes,
                boxes[j],
                None,
                result.pred_classes[j],
            )
        ]
        assert from_half and rows(result) != rows(single)
        # The best candidate of all the scales (left after clipping) keeps its score.
        nonempty = (half_boxes[:, 2:] > half_boxes[:, :2]).all(1)
        best = max(float(half_candidates.scores[nonempty].max()), float(single.scores[0]))
        assert float(result.scores[0]) == pytest.approx(best)


# ------------------------------------------------------------------------------------------
# Through forward, the LazyConfig and the predictor
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("detector", CONFIGS)
def test_forward_and_the_predictor_run_the_test_time_augmentation(detector, tmp_path):
    """``model(inputs)`` (what ``train_net.py --eval-only`` evaluates) is the test-time
    augmented inference, rescaled to the requested size; the predictor of the LazyConfig with
    the options gets a model with them."""
    options = ["model.flip_test=True", "model.test_scales=[0.5,1.0]"]
    model = build(detector, options)
    assert model.flip_test and model.test_scales == (0.5, 1.0)
    images = random_images(ODD_SIZES)
    inputs = [{"image": x, "height": 2 * x.shape[1], "width": 2 * x.shape[2]} for x in images]
    with torch.no_grad():
        outputs = model(inputs)
        expected = model.inference(model.preprocess_image(inputs))
        plain = build(detector)(inputs)
    for output, want, single, x in zip(outputs, expected, plain, inputs):
        want = detector_postprocess(want, x["height"], x["width"])
        assert output["instances"].image_size == (x["height"], x["width"])
        assert rows(output["instances"]) == rows(want)
        assert rows(output["instances"]) != rows(single["instances"])

    weights = tmp_path / "model.pth"
    torch.save({"model": model.state_dict()}, weights)
    path = os.path.join(REPO, CONFIGS[detector])
    cfg = get_predictor_cfg(
        path, [f"train.init_checkpoint={weights}", *RANDOM_WEIGHTS[detector], *options]
    )
    predictor = Predictor(cfg)
    assert predictor.model.flip_test and predictor.model.test_scales == (0.5, 1.0)
    image = np.random.default_rng(0).integers(0, 256, (97, 131, 3), dtype=np.uint8)
    result = predictor(image)["instances"]
    assert result.image_size == (97, 131) and 0 < len(result) <= 100
