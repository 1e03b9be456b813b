"""
How tools/benchmark.py reaches into each meta-architecture: running backbone + head, decoding
head outputs, planting objects in head outputs, counting dense predictions, and generating
training targets. One adapter per family of models with the same interfaces.
"""

from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from detectron2.structures import ImageList, Instances

# Planted objects score sigmoid(+5) = 0.993; every other logit sigmoid(-12) = 6e-6, far below
# any detector's score threshold, so exactly the planted candidates reach the decoder.
PLANTED_LOGIT = 5.0
BACKGROUND_LOGIT = -12.0


def plant_in_logits(
    maps: Sequence[Tensor], num_classes: int, num_objects: int, rng: np.random.Generator
) -> List[Tensor]:
    """
    Copies of classification maps ``[N, A*K, H, W]`` (A anchors or 1, K classes; one per
    level) with every logit at BACKGROUND_LOGIT except ``num_objects`` random
    (position, class) entries, drawn uniformly over all levels, at PLANTED_LOGIT.
    """
    planted = [torch.full_like(m, BACKGROUND_LOGIT) for m in maps]
    cells = [m[0, ::num_classes].numel() for m in maps]  # positions x anchors per level
    chosen = rng.choice(sum(cells), size=min(num_objects, sum(cells)), replace=False)
    starts = np.cumsum([0] + cells)
    for level, m in enumerate(planted):
        local = chosen[(chosen >= starts[level]) & (chosen < starts[level + 1])] - starts[level]
        if len(local) == 0:
            continue
        anchors_x_cells = torch.as_tensor(local, device=m.device)
        _, channels, height, width = m.shape
        anchor = anchors_x_cells // (height * width)
        cell = anchors_x_cells % (height * width)
        cls = torch.as_tensor(rng.integers(0, num_classes, len(local)), device=m.device)
        m[0, anchor * num_classes + cls, cell // width, cell % width] = PLANTED_LOGIT
    return planted


def _tensors(outputs) -> List[Tensor]:
    """The tensors of nested head outputs (tuples, lists, named tuples), in order."""
    if isinstance(outputs, Tensor):
        return [outputs]
    return [t for part in outputs for t in _tensors(part)]


class DenseDetectorAdapter:
    """Detectron2's ``DenseDetector`` models: RetinaNet and Detectron2's FCOS."""

    def network(self, model, inputs: List[dict]) -> Tuple[ImageList, List[Tensor], list]:
        images = model.preprocess_image(inputs)
        features = model.backbone(images.tensor)
        features = [features[f] for f in model.head_in_features]
        return images, features, model.head(features)

    def flat_outputs(self, model, tensor: Tensor) -> List[Tensor]:
        features = model.backbone(tensor)
        return _tensors(model.head([features[f] for f in model.head_in_features]))

    def decode(self, model, images, features, predictions) -> List[Instances]:
        return model.forward_inference(images, features, predictions)

    def plant(self, model, predictions, num_objects: int, rng: np.random.Generator):
        logits = plant_in_logits(predictions[0], model.num_classes, num_objects, rng)
        return [logits, *predictions[1:]]

    def num_predictions(self, model, predictions) -> int:
        """Candidate boxes per image: positions x anchors over all levels."""
        return int(sum(m[0].numel() // model.num_classes for m in predictions[0]))

    def target_generation(
        self, model, images, features, predictions, gt: List[Instances]
    ) -> Callable:
        anchors = model.anchor_generator(features)
        return lambda: model.label_anchors(anchors, gt)


class AnchorFreeAdapter:
    """Our detectors (anchorfree.fcos, .centernet, .cornernet), through their public inference
    interface: ``forward_raw`` (raw outputs of the decoded head; no flip test) and ``decode``."""

    def network(self, model, inputs: List[dict]):
        images = model.preprocess_image(inputs)
        return images, None, model.forward_raw(images)

    def flat_outputs(self, model, tensor: Tensor) -> List[Tensor]:
        sizes = [tuple(tensor.shape[-2:])] * tensor.shape[0]
        return _tensors(model.forward_raw(ImageList(tensor, sizes)))

    def decode(self, model, images, features, outputs) -> List[Instances]:
        return model.decode(outputs, images.image_sizes)


class AnchorFreeFCOSAdapter(AnchorFreeAdapter):
    """anchorfree.fcos.AnchorFreeFCOS: per level, class logits, box distances, centerness."""

    plant = DenseDetectorAdapter.plant
    num_predictions = DenseDetectorAdapter.num_predictions

    def target_generation(
        self, model, images, features, predictions, gt: List[Instances]
    ) -> Callable:
        shapes = [m.shape[-2:] for m in predictions[0]]
        return lambda: model.target_generator(shapes, model.strides, gt)


class CenterNetAdapter(AnchorFreeAdapter):
    """anchorfree.centernet.CenterNet: the outputs of the last head."""

    def plant(self, model, outputs, num_objects: int, rng: np.random.Generator):
        heatmap = plant_in_logits([outputs.heatmap], model.num_classes, num_objects, rng)[0]
        return outputs._replace(heatmap=heatmap)

    def num_predictions(self, model, outputs) -> int:
        """Candidate centers per image: the cells of the output grid."""
        return int(outputs.heatmap[0, 0].numel())

    def target_generation(self, model, images, features, outputs, gt: List[Instances]) -> Callable:
        grid = outputs.heatmap.shape[-2:]
        return lambda: model.target_generator(grid, model.stride, gt)


class CornerNetAdapter(AnchorFreeAdapter):
    """anchorfree.cornernet.CornerNet: the outputs of the last head."""

    def plant(self, model, predictions, num_objects: int, rng: np.random.Generator):
        """``num_objects`` top-left and as many bottom-right corners, placed independently."""
        tl, br = (
            plant_in_logits([m], model.num_classes, num_objects, rng)[0]
            for m in (predictions.tl_heatmap, predictions.br_heatmap)
        )
        return predictions._replace(tl_heatmap=tl, br_heatmap=br)

    def num_predictions(self, model, predictions) -> int:
        """Candidate corners per image: the cells of the output grid, for each corner type."""
        return 2 * int(predictions.tl_heatmap[0, 0].numel())

    def target_generation(
        self, model, images, features, predictions, gt: List[Instances]
    ) -> Callable:
        grid = predictions.tl_heatmap.shape[-2:]
        return lambda: model.target_generator(grid, model.stride, gt)


ADAPTERS: Dict[str, object] = {
    "retinanet_d2": DenseDetectorAdapter(),
    "fcos_d2": DenseDetectorAdapter(),
    "fcos": AnchorFreeFCOSAdapter(),
    "centernet": CenterNetAdapter(),
    "cornernet": CornerNetAdapter(),
}


def adapter_for(slug: str):
    return ADAPTERS[slug]
