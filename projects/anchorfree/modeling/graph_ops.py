"""Operations written to run the same eagerly and inside an exported graph, where image and
feature-map sizes are graph values: ``SymInt`` under ``torch.export`` (ONNX), 0-dim tensors
under TorchScript tracing."""

from typing import Tuple, Union

import torch
import torchvision
from torch import Tensor

__all__ = ["class_aware_nms", "clip_boxes", "min_size"]

Size = Union[int, Tensor]


def min_size(a: Size, b: Size) -> Size:
    """The smaller of two sizes (e.g. a top-k's ``k`` and the number of elements), kept a
    graph value where either is one: Python's ``min`` would fix the comparison's outcome."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return torch.minimum(torch.as_tensor(a), torch.as_tensor(b))
    return torch.sym_min(a, b)


def clip_boxes(boxes: Tensor, image_size: Tuple[int, int]) -> Tensor:
    """``[..., 4]`` XYXY boxes clipped to an image of ``(height, width)`` (as Detectron2's
    ``Boxes.clip``, which edits in place and reads the size as Python numbers)."""
    height, width = image_size
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack(
        [x0.clamp(0, width), y0.clamp(0, height), x1.clamp(0, width), y1.clamp(0, height)], -1
    )


def class_aware_nms(
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    iou_threshold: float,
    image_size: Tuple[int, int],
) -> Tensor:
    """
    Indices of the ``[R, 4]`` boxes, clipped to an image of ``image_size``, kept by NMS within
    each class, by decreasing score. The boxes of each class are moved apart by a
    class-dependent offset and suppressed in one ``torchvision.ops.nms``; any offset step above
    every coordinate separates the classes, and height + width is one without a comparison
    (which a graph with the image size as an input could not hold). torchvision's
    ``batched_nms`` does the same for small inputs but switches to a loop over the classes
    present for large ones, which cannot be exported.
    """
    height, width = image_size
    offsets = classes.to(boxes.dtype) * (height + width + 1)
    return torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)
