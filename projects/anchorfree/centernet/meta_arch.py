"""The CenterNet meta-architecture: stride-4 backbone + :class:`CenterNetHead`, targets, losses
and decoding."""

from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from anchorfree.modeling.events import put_scalar
from anchorfree.modeling.heatmap_loss import clamped_sigmoid

from detectron2.modeling import META_ARCH_REGISTRY, Backbone
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import ImageList, Instances

from .head import CenterNetHead, CenterNetOutputs
from .losses import centernet_losses
from .postprocess import CenterNetPostprocessor, merge_flipped
from .target_generator import CenterNetTargetGenerator, CenterNetTargets

__all__ = ["CenterNet"]


@META_ARCH_REGISTRY.register()
class CenterNet(nn.Module):
    """
    CenterNet, "Objects as Points" (Zhou, Wang, Krahenbuhl, 2019): every object is the peak of
    its class heatmap at its box center on a stride-4 grid, with its size and the sub-cell
    offset of its center regressed at that cell. Decoding takes the top-K peaks of a 3x3
    max-pool, with no NMS.

    Input: Detectron2's list of dicts (``image`` ``[3, H, W]`` in ``input_format``; in training
    ``instances`` with ``gt_boxes`` in the image's pixels and ``gt_classes``; optionally the
    original ``height``/``width`` to rescale detections to). Training returns the losses
    ``loss_centernet_{hm,wh,offset}``; inference returns ``[{"instances": Instances}]``.

    Registered as ``"CenterNet"`` (Detectron2 v0.6 has no meta-architecture of that name;
    CenterNet2 registers a *proposal generator* "CenterNet" and a meta-architecture
    "CenterNetDetector", in other registries or under another name).
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        head: CenterNetHead,
        head_in_features: Optional[List[str]] = None,
        num_classes: int,
        target_generator: CenterNetTargetGenerator,
        postprocessor: CenterNetPostprocessor,
        focal_loss_alpha: float = 2.0,
        focal_loss_beta: float = 4.0,
        prob_clamp: float = 1e-4,
        heatmap_loss_weight: float = 1.0,
        wh_loss_weight: float = 0.1,
        offset_loss_weight: float = 1.0,
        flip_test: bool = False,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
    ):
        """
        Args:
            backbone: outputs the ``head_in_features``, all of one stride (4).
            head: one set of branches per head input.
            head_in_features: backbone outputs the head reads (default: all of them). With
                several (Hourglass stacks), each is supervised and the losses are averaged; the
                last one is decoded at test time.
            num_classes: number of foreground classes (heatmap channels).
            target_generator: computes training targets.
            postprocessor: turns predictions into detections.
            focal_loss_alpha, focal_loss_beta: exponents of the heatmap focal loss.
            prob_clamp: heatmap probabilities are clamped to ``[prob_clamp, 1 - prob_clamp]``
                in the loss and at test time.
            *_loss_weight: weights of the heatmap, size and offset losses.
            flip_test: at test time, also run every image flipped horizontally and average
                (see :func:`~.postprocess.merge_flipped`).
            pixel_mean, pixel_std: input normalization (BGR/RGB as the input format).
        """
        super().__init__()
        self.backbone = backbone
        shapes = backbone.output_shape()
        self.head_in_features = list(head_in_features or shapes)
        strides = {shapes[f].stride for f in self.head_in_features}
        if len(strides) != 1:
            raise ValueError(
                f"Head inputs {self.head_in_features} must share one stride, got {strides}"
            )
        if head.num_inputs != len(self.head_in_features):
            raise ValueError(
                f"The head has branches for {head.num_inputs} inputs, but head_in_features "
                f"names {len(self.head_in_features)}: {self.head_in_features}"
            )
        classes = {
            "num_classes": num_classes,
            "head.num_classes": head.num_classes,
            "target_generator.num_classes": target_generator.num_classes,
        }
        if len(set(classes.values())) != 1:
            raise ValueError(f"Numbers of classes disagree: {classes}")
        self.stride = strides.pop()
        self.head = head
        self.num_classes = num_classes
        self.target_generator = target_generator
        self.postprocessor = postprocessor
        self.focal_loss_alpha = focal_loss_alpha
        self.focal_loss_beta = focal_loss_beta
        self.prob_clamp = prob_clamp
        self.heatmap_loss_weight = heatmap_loss_weight
        self.wh_loss_weight = wh_loss_weight
        self.offset_loss_weight = offset_loss_weight
        self.flip_test = flip_test
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: List[Dict[str, Tensor]]) -> ImageList:
        """Normalize the images and pad them (right and bottom) into one batch whose size is
        divisible by the backbone's ``size_divisibility``."""
        images = [
            (x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs
        ]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def forward(self, batched_inputs: List[Dict[str, Tensor]]):
        images = self.preprocess_image(batched_inputs)
        if not self.training:
            results = self.inference(images)
            return [
                {
                    "instances": detector_postprocess(
                        result, x.get("height", size[0]), x.get("width", size[1])
                    )
                }
                for result, x, size in zip(results, batched_inputs, images.image_sizes)
            ]
        if "instances" not in batched_inputs[0]:
            raise ValueError("CenterNet needs 'instances' in every input in training")
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        features = self.backbone(images.tensor)
        outputs = self.head([features[f] for f in self.head_in_features])
        targets = self.target_generator(outputs[0].heatmap.shape[-2:], self.stride, gt_instances)
        losses: Dict[str, Tensor] = {}
        for output in outputs:
            for name, value in self._losses(output, targets).items():
                losses[name] = losses.get(name, 0.0) + value / len(outputs)
        put_scalar("centernet/num_objects_per_image", targets.num_objects / len(gt_instances))
        return losses

    def _losses(self, outputs: CenterNetOutputs, targets: CenterNetTargets) -> Dict[str, Tensor]:
        return centernet_losses(
            outputs,
            targets,
            focal_loss_alpha=self.focal_loss_alpha,
            focal_loss_beta=self.focal_loss_beta,
            prob_clamp=self.prob_clamp,
            heatmap_loss_weight=self.heatmap_loss_weight,
            wh_loss_weight=self.wh_loss_weight,
            offset_loss_weight=self.offset_loss_weight,
        )

    def inference(self, images: ImageList) -> List[Instances]:
        """Detections in the coordinates of the (unpadded) preprocessed images."""
        tensor = images.tensor
        if self.flip_test:
            tensor = torch.cat([tensor, tensor.flip(3)])
        features = self.backbone(tensor)
        last = len(self.head_in_features) - 1
        outputs = self.head.predict(last, features[self.head_in_features[last]])
        scores = clamped_sigmoid(outputs.heatmap, self.prob_clamp)
        wh, offset = outputs.wh, outputs.offset
        if self.flip_test:
            scores, wh, offset = merge_flipped(scores, wh, offset, len(images))
        return self.postprocessor(scores, wh, offset, self.stride, images.image_sizes)
