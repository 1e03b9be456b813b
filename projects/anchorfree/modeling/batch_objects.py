"""The ground-truth objects of a batch as flat tensors, for the heatmap target generators."""

from typing import List, NamedTuple

import torch
from torch import Tensor

from detectron2.structures import Instances

__all__ = ["BatchObjects", "gather_objects"]


class BatchObjects(NamedTuple):
    """The ``B`` non-crowd objects of ``N`` images, image after image, in their listed order."""

    boxes: Tensor  # [B, 4] float XYXY, input-image pixels
    classes: Tensor  # [B] int64
    image_index: Tensor  # [B] int64: image of each object
    counts: Tensor  # [N] int64: objects per image


def gather_objects(gt_instances: List[Instances]) -> BatchObjects:
    """
    Concatenate the ``gt_boxes``/``gt_classes`` of every image, leaving out crowd boxes (a
    boolean ``gt_is_crowd`` field, which a custom mapper may keep; Detectron2's
    ``DatasetMapper`` drops crowd annotations): they are not objects to detect.
    """
    device = gt_instances[0].gt_boxes.tensor.device
    kept = [~x.gt_is_crowd.bool() if x.has("gt_is_crowd") else slice(None) for x in gt_instances]
    boxes = torch.cat([x.gt_boxes.tensor[k] for x, k in zip(gt_instances, kept)]).float()
    classes = torch.cat([x.gt_classes[k] for x, k in zip(gt_instances, kept)]).long()
    counts = torch.tensor([len(x.gt_classes[k]) for x, k in zip(gt_instances, kept)], device=device)
    image_index = torch.repeat_interleave(torch.arange(len(gt_instances), device=device), counts)
    return BatchObjects(boxes, classes, image_index, counts)
