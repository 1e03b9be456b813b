"""
Test-time augmentation shared by the three detectors: the horizontal flip of a batch and the
multi-scale test.

Multi-scale test (``test_scales`` of every meta-architecture, default ``(1.0,)``: off). For
each scale ``s`` the preprocessed batch (normalized, padded) is taken apart into its unpadded
images, each is resized by ``s`` (bilinear, to ``round(h * s) x round(w * s)``) and the images
are padded again to the backbone's size divisibility (:func:`resize_batch`); the detector runs
on it, with its flip test when that is on, and its detections are mapped back to the pixels of
the unscaled image (:func:`rescale_boxes`: divided by the scale, exactly by the ratio of the
rounded sizes, and clipped). How the sets of all scales become one is each detector's
(CenterNet: soft-NMS; CornerNet: its own soft-NMS over the candidates of all scales; FCOS:
:func:`nms_merge`). A scale of exactly 1.0 runs on the batch itself.

The originals (CenterNet's ``base_detector.py``, CornerNet's ``test/coco.py``) resize the raw
image and then normalize it; here the normalized image is resized, which is the same (bilinear
interpolation commutes with a per-channel affine map) but for the rounding of a uint8 resize.
The padding comes after the resize, as there. They size the resized image ``int(side * s)``
and divide the boxes by ``s``; here the sides are rounded and the boxes mapped by the ratio of
the sizes, the exact inverse of the resize.
"""

import math
from typing import Callable, List, NamedTuple, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from detectron2.structures import ImageList

from .graph_ops import class_aware_nms, clip_boxes

__all__ = [
    "Detections",
    "check_test_scales",
    "concat_detections",
    "flipped_batch",
    "mirror_boxes",
    "multi_scale_detections",
    "nms_merge",
    "rescale_boxes",
    "resize_batch",
]


class Detections(NamedTuple):
    """One image's detections (or candidates) as tensors."""

    boxes: Tensor  # [D, 4] XYXY pixels
    scores: Tensor  # [D]
    classes: Tensor  # [D] int64


def check_test_scales(test_scales: Sequence[float]) -> Tuple[float, ...]:
    """``test_scales`` as a tuple of floats; ``ValueError`` unless it is a non-empty sequence
    of positive numbers."""
    try:
        scales = tuple(float(s) for s in test_scales)
    except (TypeError, ValueError):
        raise ValueError(
            f"test_scales must be a sequence of positive numbers, e.g. [0.5, 1.0, 1.5]; got "
            f"{test_scales!r}"
        ) from None
    if not scales or not all(s > 0 and math.isfinite(s) for s in scales):
        raise ValueError(
            f"test_scales must be a non-empty sequence of positive numbers, e.g. "
            f"[0.5, 1.0, 1.5]; got {list(scales)}"
        )
    return scales


def flipped_batch(images: ImageList, *, padded: bool) -> ImageList:
    """
    The ``N`` images of a batch (padded to the size divisibility) followed by their mirror
    images (``2N``), in a batch of the same padded size. ``padded``: the padded batch is
    mirrored as a whole (every output map mirrored back lines up cell for cell with the
    original's); otherwise every image is mirrored before it is padded again (its detections
    map back by ``x -> width - x``, :func:`mirror_boxes`).
    """
    sizes: List[Tuple[int, int]] = [tuple(s) for s in images.image_sizes]
    if padded:
        return ImageList(torch.cat([images.tensor, images.tensor.flip(3)]), sizes + sizes)
    # Each mirror image padded (zeros) to the batch's padded size, which is what
    # ``ImageList.from_tensors`` of the images and their mirrors would give (the same sizes);
    # from_tensors itself reads the size as data, which ``torch.export`` cannot follow.
    padded_height, padded_width = images.tensor.shape[-2:]
    mirrored = [
        F.pad(images.tensor[i, :, :h, :w].flip(-1), (0, padded_width - w, 0, padded_height - h))
        for i, (h, w) in enumerate(sizes)
    ]
    return ImageList(torch.cat([images.tensor, torch.stack(mirrored)]), sizes + sizes)


def mirror_boxes(boxes: Tensor, width) -> Tensor:
    """``[D, 4]`` XYXY boxes found on the horizontal mirror of an image ``width`` wide, in the
    image's own pixels: ``x -> width - x`` (the mirrored right side is the left side)."""
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)


def scaled_size(size: Tuple[int, int], scale: float) -> Tuple[int, int]:
    """``(height, width)`` resized by ``scale``, rounded, at least 1."""
    return tuple(max(1, int(side * scale + 0.5)) for side in size)


def resize_batch(images: ImageList, scale: float, size_divisibility: int) -> ImageList:
    """The unpadded images of a preprocessed batch, each resized by ``scale`` (bilinear, to
    :func:`scaled_size`) and padded again to ``size_divisibility``; the batch itself for 1.0."""
    if scale == 1.0:
        return images
    resized = [
        F.interpolate(
            images.tensor[i : i + 1, :, :h, :w],
            size=scaled_size((h, w), scale),
            mode="bilinear",
            align_corners=False,
        )[0]
        for i, (h, w) in enumerate(images.image_sizes)
    ]
    return ImageList.from_tensors(resized, size_divisibility)


def rescale_boxes(boxes: Tensor, from_size: Tuple[int, int], to_size: Tuple[int, int]) -> Tensor:
    """``[D, 4]`` XYXY boxes in the pixels of an image of ``from_size`` ``(height, width)``
    resized from one of ``to_size``, in the pixels of the latter (clipped to it). Bilinear
    resizing without corner alignment maps pixel edges by the ratio of the sizes, so this is
    exact."""
    if tuple(from_size) == tuple(to_size):
        return clip_boxes(boxes, to_size)
    ratio_y = to_size[0] / from_size[0]
    ratio_x = to_size[1] / from_size[1]
    factors = boxes.new_tensor([ratio_x, ratio_y, ratio_x, ratio_y])
    return clip_boxes(boxes * factors, to_size)


def multi_scale_detections(
    images: ImageList,
    test_scales: Sequence[float],
    size_divisibility: int,
    detect: Callable[[ImageList], List[List[Detections]]],
) -> List[List[Detections]]:
    """
    Per image of ``images``, the detection sets of every scale (see the module doc), in the
    pixels of its unscaled image: ``detect(batch)`` gives, per image of a resized batch, its
    detection sets in that image's pixels (e.g. two for an image and its mirror, not merged).
    """
    per_image: List[List[Detections]] = [[] for _ in images.image_sizes]
    for scale in test_scales:
        scaled = resize_batch(images, scale, size_divisibility)
        for sets, found, from_size, to_size in zip(
            per_image, detect(scaled), scaled.image_sizes, images.image_sizes
        ):
            sets.extend(d._replace(boxes=rescale_boxes(d.boxes, from_size, to_size)) for d in found)
    return per_image


def concat_detections(sets: Sequence[Detections]) -> Detections:
    """Several detection sets of one image as one."""
    return Detections(*(torch.cat(fields) for fields in zip(*sets)))


def nms_merge(
    sets: Sequence[Detections],
    nms_thresh: float,
    max_detections: int,
    image_size: Tuple[int, int],
) -> Detections:
    """
    Detectron2's merge of augmented detections (``GeneralizedRCNNWithTTA._merge_detections``;
    FCOS's ``im_detect_bbox_aug``): the union of the sets, class-aware NMS at ``nms_thresh``,
    the ``max_detections`` best. The boxes must lie within ``image_size`` (clipped); tensor
    operations only, so that the exported graph merges as the eager model does.

    Boxes without area (clipped away, e.g. FCOS's from points beyond the image's edge) are left
    out: their IoU with anything is 0/0, so NMS cannot suppress them, and each view would add
    its own copy.
    """
    boxes, scores, classes = concat_detections(sets)
    nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, classes = boxes[nonempty], scores[nonempty], classes[nonempty]
    keep = class_aware_nms(boxes, scores, classes, nms_thresh, image_size)
    keep = keep[:max_detections]
    return Detections(boxes[keep], scores[keep], classes[keep])
