"""
The exported computation: one image in, its detections out, every step a tensor operation.

:class:`ExportableDetector` wraps any detector of this project around its public inference
interface (``forward_raw`` and ``decode_graph``):

* input ``image``: ``[3, H, W]`` float32, pixel values 0-255 in the detector's input format
  (the channel order of the config's ``image_format``), already resized as the config's test
  transform resizes (the predictor of :mod:`anchorfree.export.runtime` does both); ``H`` and
  ``W`` are graph inputs;
* in the graph: normalization with the model's ``pixel_mean``/``pixel_std``, padding (right
  and bottom, zeros after normalization, as ``ImageList.from_tensors``) to the backbone's
  ``size_divisibility``, the flip test where the detector has it on (``flip_test``: the image
  and its mirror image in one batch of two, merged as the eager model merges them), the
  network, and the decoding: CenterNet's peak extraction and top-K (and optional NMS), FCOS's
  per-level top-k, box decoding and class-aware NMS, CornerNet's corner top-K and K x K
  pairing;
* outputs ``boxes [D, 4]`` (XYXY, pixels of the input image), ``scores [D]``, ``classes [D]``
  (int64). For CornerNet they are the candidate pairs before soft-NMS, which has no graph form
  (a loop whose length depends on the data): the predictor then runs the detector's own
  ``postprocessor.select`` on them.

The originals' test pipelines (``test_pipeline``, :mod:`anchorfree.modeling.original_test`) are
refused: they are OpenCV/numpy code (resize and warp of the uint8 image) around the network.

The multi-scale test (``test_scales``) is not in the graph: a graph is one image at one size,
and CenterNet's and CornerNet's merges of the scales are soft-NMS, which has no graph form
either. A model with ``test_scales`` other than ``(1.0,)`` is refused; to test at several
scales, run the graph once per resized image and merge outside it as the detector's
``merge_scales`` (or FCOS's ``merge_views``) does.
"""

from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from detectron2.structures import ImageList

__all__ = ["ExportableDetector"]


def _pad_to_multiple(x: Tensor, divisibility: int) -> Tensor:
    """``[..., H, W]`` padded right and bottom with zeros to multiples of ``divisibility``."""
    if divisibility <= 1:
        return x
    height, width = x.shape[-2:]
    # Rounded up by integer division: the exporter cannot take a remainder of a graph value.
    padded_height = (height + divisibility - 1) // divisibility * divisibility
    padded_width = (width + divisibility - 1) // divisibility * divisibility
    return F.pad(x, (0, padded_width - width, 0, padded_height - height))


class ExportableDetector(nn.Module):
    """A detector of this project as one graph from a ``[3, H, W]`` image to
    ``(boxes, scores, classes)`` (see the module doc). The detector is put in eval mode. Its
    flip test is in the graph; a multi-scale test (``test_scales`` other than ``(1.0,)``) is
    refused with a ``ValueError``: it stays outside the graph."""

    def __init__(self, detector: nn.Module):
        super().__init__()
        if getattr(detector, "test_pipeline", None) is not None:
            raise ValueError(
                f"{type(detector).__name__} tests with the original implementation's pipeline "
                f"({type(detector.test_pipeline).__name__}: cv2 resize and warp of the uint8 "
                "image, decoding in output cells, back-mapping, merge), which is numpy/OpenCV "
                "code outside any graph. Export with model.test_pipeline=None (this project's "
                "test path, with the config's test resize)."
            )
        scales = tuple(getattr(detector, "test_scales", (1.0,)))
        if scales != (1.0,):
            raise ValueError(
                f"{type(detector).__name__} has test_scales={list(scales)}: the multi-scale "
                "test is not part of an exported graph (one image at one size; the merges of "
                "the scales are outside it). Export with model.test_scales=[1.0]; the flip "
                "test (model.flip_test) is exported."
            )
        self.detector = detector.eval()
        self.flip = bool(getattr(detector, "flip_test", False))

    def raw_outputs(self, image: Tensor):
        """The part of the graph before the decoding: the detector's ``forward_raw`` outputs
        for ``image`` normalized and padded (with its mirror image under the flip test)."""
        detector = self.detector
        height, width = image.shape[-2:]
        normalized = (image - detector.pixel_mean) / detector.pixel_std
        batch = _pad_to_multiple(normalized, detector.backbone.size_divisibility)[None]
        return detector.forward_raw(ImageList(batch, [(height, width)]), flip=self.flip)

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        height, width = image.shape[-2:]
        outputs = self.raw_outputs(image)
        return self.detector.decode_graph(outputs, (height, width), flip=self.flip)
