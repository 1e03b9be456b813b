"""The options that reproduce the original implementations' conventions (tianzhi0549/FCOS,
AdelaiDet), each on a hand case whose expected value is the original's formula written out as
plain arithmetic; the defaults are checked to differ there, so that each case can fail."""

import math

import pytest
import torch
from detector_testing import logit

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
from anchorfree.fcos import FCOSPostprocessor, FCOSTargetGenerator, iou_loss

from detectron2.structures import Boxes, Instances

# (l, t, r, b) from one point: the boxes (-1, 0, 1, 2) and (0, -1, 2, 1), which overlap in
# a 1 x 1 square; areas 4 and 4, union 7, enclosing box 3 x 3.
PRED = torch.tensor([[1.0, 0.0, 1.0, 2.0]])
TARGET = torch.tensor([[0.0, 1.0, 2.0, 1.0]])
INTER, UNION, ENCLOSING = 1.0, 7.0, 9.0


def test_iou_smoothing_is_the_originals_iou():
    # Both originals: ious = (area_intersect + 1.0) / (area_union + 1.0);
    # gious = ious - (ac_uion - area_union) / ac_uion (tianzhi0549 adds 1e-7 to ac_uion).
    ious = (INTER + 1.0) / (UNION + 1.0)
    gious = ious - (ENCLOSING - UNION) / ENCLOSING
    expected = {"iou": -math.log(ious), "linear_iou": 1.0 - ious, "giou": 1.0 - gious}
    for loss_type, value in expected.items():
        smoothed = iou_loss(PRED, TARGET, loss_type, smoothing=1.0)
        torch.testing.assert_close(smoothed, torch.tensor([value]))
        # The default, I / U, is another number on this case.
        assert abs(iou_loss(PRED, TARGET, loss_type).item() - value) > 1e-2


def test_iou_smoothing_in_the_loss_of_the_model_config():
    # Through fcos_losses: one positive point, its box loss is the smoothed GIoU loss.
    from anchorfree.fcos.losses import fcos_losses

    labels = torch.tensor([[0]])
    losses, _ = fcos_losses(
        torch.zeros(1, 1, 1),
        PRED[None],
        torch.zeros(1, 1),
        labels,
        TARGET[None],
        num_classes=1,
        box_loss_type="giou",
        iou_smoothing=1.0,
        centerness_weighted_box_loss=False,
    )
    ious = (INTER + 1.0) / (UNION + 1.0)
    expected = 1.0 - (ious - (ENCLOSING - UNION) / ENCLOSING)
    torch.testing.assert_close(losses["loss_fcos_loc"], torch.tensor(expected))


def test_area_offset_ranks_ambiguous_boxes_as_tianzhi0549():
    # The point (4, 4) of a stride-8 level lies inside both boxes. w * h: 10 x 1 = 10 against
    # 3.5 x 3 = 10.5; tianzhi0549 (BoxList.area, TO_REMOVE = 1): (10 + 1) * (1 + 1) = 22
    # against (3.5 + 1) * (3 + 1) = 18, the other box.
    boxes = torch.tensor([[0.0, 3.5, 10.0, 4.5], [2.5, 2.5, 6.0, 5.5]])
    gt = Instances((8, 16), gt_boxes=Boxes(boxes), gt_classes=torch.tensor([0, 1]))
    areas_original = [(10.0 + 1) * (1.0 + 1), (3.5 + 1) * (3.0 + 1)]
    expected_box = min(range(2), key=lambda i: areas_original[i])
    assert expected_box == 1

    def matched(area_offset):
        generator = FCOSTargetGenerator(
            num_classes=2,
            sizes_of_interest=(),
            center_sampling_radius=0.0,
            area_offset=area_offset,
        )
        return generator([(1, 2)], [8], [gt]).matched_idxs[0, 0].item()

    assert matched(1.0) == expected_box
    assert matched(0.0) == 0


def _two_box_postprocess(post, image_size, right_box_ltrb):
    """Detections of two same-class points of a stride-1 level in pixels: (5, 5) with the
    box (0, 0, 10, 10), score 0.9, and (10, 5) with ``right_box_ltrb``, score 0.8; checked
    to be those of the exported graph's decoding too."""
    points = [torch.tensor([[5.0, 5.0], [10.0, 5.0]])]
    logits = [torch.tensor([[[logit(0.9)], [logit(0.8)]]])]
    box = [torch.tensor([[[5.0, 5.0, 5.0, 5.0], right_box_ltrb]])]
    ctr = [torch.full((1, 2, 1), 30.0)]  # centerness ~1
    (result,) = post(points, [1], logits, box, ctr, [image_size])
    boxes, scores, classes = post.select_graph(
        points, [1], [logits[0][0]], [box[0][0]], [ctr[0][0]], image_size
    )
    order = scores.argsort(descending=True)
    torch.testing.assert_close(boxes[order], result.pred_boxes.tensor)
    assert classes[order].tolist() == result.pred_classes.tolist()
    return result


def test_pixel_offset_nms_is_maskrcnn_benchmarks():
    # (0, 0, 10, 10) and (5, 0, 15, 10). maskrcnn-benchmark's ml_nms: width
    # max(right - left + 1, 0), area (x2 - x1 + 1) * (y2 - y1 + 1), suppressed when > thresh.
    inter = (10 - 5 + 1) * (10 - 0 + 1)
    area = (10 - 0 + 1) * (10 - 0 + 1)
    overlap_original = inter / (area + area - inter)
    overlap_continuous = (5 * 10) / (100 + 100 - 5 * 10)
    thresh = 0.35
    assert overlap_continuous < thresh < overlap_original

    def kept(pixel_offset):
        post = FCOSPostprocessor(
            nms_thresh=thresh, normalize_by_stride=False, pixel_offset=pixel_offset
        )
        return len(_two_box_postprocess(post, (100, 100), [5.0, 5.0, 5.0, 5.0]))

    assert kept(1) == 1
    assert kept(0) == 2


def test_pixel_offset_clips_to_size_minus_one():
    # (10, 5) with (5, 5, 5, 5) is (5, 0, 15, 10); in a 8 x 12 image maskrcnn-benchmark's
    # clip_to_image clamps x to [0, 12 - 1] and y to [0, 8 - 1].
    post = FCOSPostprocessor(nms_thresh=0.99, normalize_by_stride=False, pixel_offset=1)
    boxes = _two_box_postprocess(post, (8, 12), [5.0, 5.0, 5.0, 5.0]).pred_boxes.tensor
    torch.testing.assert_close(boxes[1], torch.tensor([5.0, 0.0, 12.0 - 1, 8.0 - 1]))
    post = FCOSPostprocessor(nms_thresh=0.99, normalize_by_stride=False)
    boxes = _two_box_postprocess(post, (8, 12), [5.0, 5.0, 5.0, 5.0]).pred_boxes.tensor
    torch.testing.assert_close(boxes[1], torch.tensor([5.0, 0.0, 12.0, 8.0]))


def test_nms_on_unclipped_boxes_as_adelaidet():
    # (0, 0, 10, 10) and (5, 0, 25, 10) in an image 15 wide. AdelaiDet runs NMS on the boxes
    # as decoded: overlap 50 / (100 + 200 - 50); clipped first, the second box is
    # (5, 0, 15, 10): 50 / (100 + 100 - 50).
    overlap_unclipped = 50 / (100 + 200 - 50)
    overlap_clipped = 50 / (100 + 100 - 50)
    thresh = 0.3
    assert overlap_unclipped < thresh < overlap_clipped

    def detections(clip_before_nms):
        post = FCOSPostprocessor(
            nms_thresh=thresh, normalize_by_stride=False, clip_before_nms=clip_before_nms
        )
        return _two_box_postprocess(post, (20, 15), [5.0, 5.0, 15.0, 5.0])

    unclipped = detections(False)
    assert len(unclipped) == 2
    torch.testing.assert_close(unclipped.pred_boxes.tensor[1], torch.tensor([5.0, 0, 25, 10]))
    assert len(detections(True)) == 1


def test_pixel_offset_is_0_or_1():
    with pytest.raises(ValueError, match="pixel_offset"):
        FCOSPostprocessor(pixel_offset=2)
