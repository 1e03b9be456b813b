"""The heatmap pieces shared by CenterNet and CornerNet: radii, Gaussians, focal loss, peaks."""

import math

import pytest
import torch

from anchorfree.modeling.gaussian_targets import draw_gaussians, gaussian_radius, heatmap_radii
from anchorfree.modeling.heatmap_loss import clamped_sigmoid, heatmap_focal_loss
from anchorfree.modeling.peaks import gather_at, suppress_non_peaks, topk_peaks


def _iou_of_worst_cases(h: float, w: float, r: float):
    translated = (h - r) * (w - r)
    return (
        translated / (2 * h * w - translated),  # both corners moved the same way
        (h - 2 * r) * (w - 2 * r) / (h * w),  # both inwards
        h * w / ((h + 2 * r) * (w + 2 * r)),  # both outwards
    )


def test_radius_hand_values():
    # 10x10 box, t = 0.7. Corrected: case 2 binds, 4r^2 - 40r + 30 = 0 -> r = (40 - sqrt(1120)) / 8.
    ten = torch.tensor([10.0])
    corrected = gaussian_radius(ten, ten, 0.7, "corrected")
    assert corrected.item() == pytest.approx((40 - math.sqrt(1120)) / 8, rel=1e-6)
    # Published: min((20 + sqrt(329.41)) / 2, (40 + sqrt(1120)) / 2, (-28 + sqrt(1120)) / 2).
    published = gaussian_radius(ten, ten, 0.7, "published")
    assert published.item() == pytest.approx((-28 + math.sqrt(1120)) / 2, rel=1e-6)


@pytest.mark.parametrize(
    "h,w,t", [(10.0, 10.0, 0.7), (37.0, 5.0, 0.3), (120.0, 64.0, 0.3), (3.0, 90.0, 0.5)]
)
def test_corrected_radius_keeps_the_iou_and_is_tight(h, w, t):
    r = gaussian_radius(torch.tensor([h]), torch.tensor([w]), t, "corrected").item()
    ious = _iou_of_worst_cases(h, w, r)
    assert min(ious) == pytest.approx(t, abs=1e-4)  # the binding case sits exactly at t
    assert all(iou >= t - 1e-4 for iou in ious)


def test_published_radius_is_larger_and_radii_are_whole_cells():
    h = torch.tensor([4.0, 30.0, 200.0, 0.0])
    w = torch.tensor([9.0, 30.0, 50.0, 0.0])
    assert (
        gaussian_radius(h, w, 0.7, "published") >= gaussian_radius(h, w, 0.7, "corrected")
    ).all()
    radii = heatmap_radii(h, w, 0.3)
    assert radii.dtype == torch.int64 and (radii >= 0).all() and radii[-1] == 0
    assert torch.equal(radii, gaussian_radius(h, w, 0.3).floor().long())


def test_unknown_radius_formula():
    with pytest.raises(ValueError, match="corrected"):
        gaussian_radius(torch.ones(1), torch.ones(1), 0.7, "mmdet")


def _draw_one_by_one(shape, centers, radii, classes):
    """The straightforward reference: one object at a time, cell by cell."""
    heatmap = torch.zeros(shape)
    _, height, width = shape
    for (cx, cy), r, c in zip(centers.tolist(), radii.tolist(), classes.tolist()):
        sigma = (2 * r + 1) / 6
        for y in range(cy - r, cy + r + 1):
            for x in range(cx - r, cx + r + 1):
                if 0 <= x < width and 0 <= y < height:
                    value = torch.exp(
                        torch.tensor(-float((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma))
                    )
                    heatmap[c, y, x] = torch.maximum(heatmap[c, y, x], value)
    return heatmap


def test_gaussian_peak_symmetry_and_sigma():
    heatmap = torch.zeros(1, 21, 21)
    draw_gaussians(heatmap, torch.tensor([[10, 10]]), torch.tensor([6]), torch.tensor([0]))
    assert heatmap[0, 10, 10] == 1 and heatmap.max() == 1
    assert torch.equal(heatmap, heatmap.flip(1)) and torch.equal(heatmap, heatmap.flip(2))
    assert torch.equal(heatmap, heatmap.transpose(1, 2))
    sigma = 13 / 6
    assert heatmap[0, 10, 13].item() == pytest.approx(math.exp(-9 / (2 * sigma**2)), rel=1e-6)
    # The window is the square of radius 6 around the center: nothing beyond it.
    assert (heatmap[0, :, :4] == 0).all() and (heatmap[0, :, 17:] == 0).all()
    assert (heatmap[0, 4, 4:17] > 0).all()


def test_gaussians_match_the_one_by_one_reference():
    generator = torch.Generator().manual_seed(0)
    n = 60
    centers = torch.randint(-3, 43, (n, 2), generator=generator)  # some centers off the map
    radii = torch.randint(0, 20, (n,), generator=generator)
    classes = torch.randint(0, 3, (n,), generator=generator)
    fast = torch.zeros(3, 31, 40)
    draw_gaussians(fast, centers, radii, classes)
    assert torch.allclose(fast, _draw_one_by_one((3, 31, 40), centers, radii, classes), atol=1e-7)


def test_gaussians_keep_the_elementwise_max_and_existing_values():
    heatmap = torch.full((1, 9, 9), 0.5)
    draw_gaussians(
        heatmap, torch.tensor([[4, 4], [5, 4]]), torch.tensor([3, 1]), torch.tensor([0, 0])
    )
    assert heatmap[0, 4, 4] == 1 and heatmap[0, 4, 5] == 1
    assert heatmap.min() == 0.5  # far cells keep what was there
    draw_gaussians(
        heatmap,
        torch.zeros(0, 2, dtype=torch.long),
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, dtype=torch.long),
    )  # no objects: unchanged, no error


def _focal_loss_by_hand(logits, targets, num_objects, alpha=2.0, beta=4.0):
    total = 0.0
    for z, y in zip(logits.flatten().tolist(), targets.flatten().tolist()):
        p = min(max(1 / (1 + math.exp(-z)), 1e-4), 1 - 1e-4)
        if y == 1:
            total += (1 - p) ** alpha * math.log(p)
        else:
            total += (1 - y) ** beta * p**alpha * math.log(1 - p)
    return -total / max(num_objects, 1)


def test_focal_loss_hand_case():
    # One positive at logit 0 (p = 1/2): (1/2)^2 log 2. One negative with target 0.5 at logit 0:
    # (1/2)^4 (1/2)^2 log 2. One plain negative at logit 0: (1/2)^2 log 2.
    logits = torch.zeros(1, 1, 1, 3)
    targets = torch.tensor([[[[1.0, 0.5, 0.0]]]])
    expected = (0.25 + 0.25 / 16 + 0.25) * math.log(2)
    assert heatmap_focal_loss(logits, targets, 1).item() == pytest.approx(expected, rel=1e-6)
    assert heatmap_focal_loss(logits, targets, 2).item() == pytest.approx(expected / 2, rel=1e-6)


def test_focal_loss_matches_the_formula_and_handles_zero_objects():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 5, 4, generator=generator) * 4
    targets = torch.rand(2, 3, 5, 4, generator=generator) * 0.9
    targets[0, 1, 2, 3] = targets[1, 0, 0, 0] = 1
    loss = heatmap_focal_loss(logits, targets, torch.tensor(2.0))
    assert loss.item() == pytest.approx(_focal_loss_by_hand(logits, targets, 2), rel=1e-5)
    no_objects = torch.zeros_like(targets)
    empty = heatmap_focal_loss(logits, no_objects, 0)
    assert torch.isfinite(empty) and empty.item() == pytest.approx(
        _focal_loss_by_hand(logits, no_objects, 0), rel=1e-5
    )


def test_focal_loss_is_finite_for_saturated_logits():
    logits = torch.tensor([[[[100.0, -100.0]]]], requires_grad=True)
    loss = heatmap_focal_loss(logits, torch.tensor([[[[0.0, 1.0]]]]), 1)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert clamped_sigmoid(torch.tensor([-100.0, 100.0])).tolist() == pytest.approx(
        [1e-4, 1 - 1e-4]
    )


def test_suppress_non_peaks_keeps_local_maxima_only():
    scores = torch.zeros(1, 2, 5, 5)
    scores[0, 0, 1, 1] = 0.9
    scores[0, 0, 1, 2] = 0.5  # next to a higher score: suppressed
    scores[0, 0, 4, 4] = 0.3
    scores[0, 1, 1, 2] = 0.4  # another class: independent of class 0
    kept = suppress_non_peaks(scores)
    assert kept[0, 0, 1, 1] == 0.9 and kept[0, 0, 1, 2] == 0 and kept[0, 0, 4, 4] == 0.3
    assert kept[0, 1, 1, 2] == 0.4
    with pytest.raises(ValueError, match="odd"):
        suppress_non_peaks(scores, kernel_size=2)


def test_topk_peaks_equals_one_global_topk():
    generator = torch.Generator().manual_seed(2)
    scores = torch.rand(3, 7, 6, 5, generator=generator)
    peaks = topk_peaks(scores, 12)
    expected_scores, expected_index = scores.reshape(3, -1).topk(12, dim=1)
    assert torch.equal(peaks.scores, expected_scores)
    assert torch.equal(peaks.classes, expected_index // 30)
    assert torch.equal(peaks.ys, expected_index % 30 // 5)
    assert torch.equal(peaks.xs, expected_index % 5)
    # K larger than one class's cells, and larger than everything.
    assert topk_peaks(scores, 100).scores.shape == (3, 100)
    assert topk_peaks(scores, 1000).scores.shape == (3, 7 * 30)


def test_gather_at():
    features = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    ys = torch.tensor([[0, 3], [2, 1]])
    xs = torch.tensor([[4, 0], [1, 1]])
    gathered = gather_at(features, ys, xs)
    assert gathered.shape == (2, 2, 3)
    for i in range(2):
        for k in range(2):
            assert torch.equal(gathered[i, k], features[i, :, ys[i, k], xs[i, k]])


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_separable_window_max_equals_max_pool(kernel_size):
    from torch.nn import functional as F

    from anchorfree.modeling.peaks import _window_max

    generator = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 4, (2, 3, 7, 9), generator=generator).float()  # many ties
    expected = F.max_pool2d(scores, kernel_size, stride=1, padding=kernel_size // 2)
    assert torch.equal(_window_max(scores, kernel_size), expected)
    single = torch.rand(1, 1, 1, 1)
    assert torch.equal(_window_max(single, kernel_size), single)
