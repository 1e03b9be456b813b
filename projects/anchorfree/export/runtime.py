"""
:class:`ExportedPredictor`: an exported model (ONNX Runtime or TorchScript) with the calling
convention of Detectron2's ``DefaultPredictor``: one ``(H, W, 3)`` uint8 BGR image in (gray and
BGRA accepted), ``{"instances": Instances}`` out, in the image's pixels.

The preprocessing outside the graph is the eager predictor's: the channel order of the config's
``image_format``, the config's test transform (its ``dataloader.test.mapper.augmentations``,
e.g. ``ResizeShortestEdge``), ``float32`` CHW; normalization and padding are in the graph.
After it: for CornerNet, the detector's own ``postprocessor.select`` (clip, soft-NMS, the best
``max_detections_per_image``); then ``detector_postprocess`` to the image's own size.

    predictor = ExportedPredictor("exported/centernet")
    instances = predictor(cv2.imread("photo.jpg"))["instances"]
"""

import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from anchorfree.cornernet import CornerCandidates
from anchorfree.engine.predictor import as_bgr_image

from detectron2.config import LazyConfig, instantiate
from detectron2.data import Metadata
from detectron2.data import transforms as T
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances

from .exporting import CONFIG_FILE, METADATA_FILE

__all__ = ["ExportedPredictor"]


def _onnx_runner(path: str, providers: Optional[Sequence[str]], threads: Optional[int]) -> Callable:
    import onnxruntime  # only needed for ONNX models

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        path, options, providers=list(providers or ["CPUExecutionProvider"])
    )
    name = session.get_inputs()[0].name

    def run(image: Tensor) -> List[Tensor]:
        return [torch.from_numpy(o) for o in session.run(None, {name: image.numpy()})]

    return run


def _torchscript_runner(path: str) -> Callable:
    import torchvision  # noqa: F401  (registers the nms op that the graph calls)

    module = torch.jit.load(path, map_location="cpu")

    def run(image: Tensor) -> List[Tensor]:
        with torch.no_grad():
            return list(module(image))

    return run


class ExportedPredictor:
    """Predicts with the model exported into ``export_dir`` by ``tools/export_model.py`` (see
    the module doc). ``providers``: ONNX Runtime execution providers (default: CPU);
    ``threads``: ONNX Runtime's intra-op threads (default: its own choice)."""

    def __init__(
        self,
        export_dir: str,
        *,
        providers: Optional[Sequence[str]] = None,
        threads: Optional[int] = None,
    ):
        metadata_file = os.path.join(export_dir, METADATA_FILE)
        if not os.path.isfile(metadata_file):
            raise FileNotFoundError(
                f"'{export_dir}' is not an exported model: it has no {METADATA_FILE} "
                "(write one with tools/export_model.py)."
            )
        with open(metadata_file) as f:
            self.export_metadata = json.load(f)
        cfg = LazyConfig.load(os.path.join(export_dir, CONFIG_FILE))
        path = os.path.join(export_dir, self.export_metadata["file"])
        if self.export_metadata["format"] == "onnx":
            self._run = _onnx_runner(path, providers, threads)
        else:
            self._run = _torchscript_runner(path)
        augmentations = cfg.dataloader.test.mapper.get("augmentations") or []
        self.augmentations = T.AugmentationList([instantiate(a) for a in augmentations])
        self.input_format = self.export_metadata["input_format"]
        self.post_step = (
            instantiate(cfg.model.postprocessor).select
            if self.export_metadata["post_step"]
            else None
        )
        self.metadata = Metadata(thing_classes=self.export_metadata["thing_classes"])

    def preprocess(self, original_image: np.ndarray) -> Tensor:
        """The graph's input for one BGR image: ``[3, H', W']`` float32 in the model's channel
        order, after the config's test transform."""
        image = as_bgr_image(original_image)
        if self.input_format == "RGB":
            image = image[:, :, ::-1]
        aug_input = T.AugInput(image)
        self.augmentations(aug_input)
        return torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1))).float()

    def detections(self, image: Tensor) -> Instances:
        """Detections on a preprocessed ``[3, H', W']`` image, in its pixels."""
        boxes, scores, classes = self._run(image)
        size: Tuple[int, int] = tuple(image.shape[-2:])
        if self.post_step is not None:
            return self.post_step(CornerCandidates(boxes, scores, classes), size)
        return Instances(size, pred_boxes=Boxes(boxes), scores=scores, pred_classes=classes)

    def __call__(self, original_image: np.ndarray) -> Dict[str, Instances]:
        height, width = original_image.shape[:2]
        instances = self.detections(self.preprocess(original_image))
        return {"instances": detector_postprocess(instances, height, width)}
