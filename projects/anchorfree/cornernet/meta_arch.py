"""The CornerNet meta-architecture: backbone, one :class:`CornerNetHead` per feature map,
targets, losses and decoding."""

from typing import Dict, List, Sequence

import torch
from torch import Tensor, nn

from anchorfree.modeling.distributed import mean_over_workers
from anchorfree.modeling.events import put_scalar

from detectron2.modeling import META_ARCH_REGISTRY, Backbone
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import ImageList, Instances

from .head import CornerNetHead, CornerPredictions
from .losses import cornernet_losses
from .postprocess import CornerNetPostprocessor, flip_candidates, merge_candidates
from .target_generator import CornerNetTargetGenerator

__all__ = ["CornerNet"]


@META_ARCH_REGISTRY.register()
class CornerNet(nn.Module):
    """
    CornerNet (Law & Deng, ECCV 2018): objects as pairs of top-left and bottom-right corners,
    found on corner heatmaps and grouped by 1-d associative embeddings.

    The backbone's ``in_features`` all have the same stride (4); each gets its own head. With
    several (the stacks of Hourglass-104, ``["hg1", "hg2"]``), every head is supervised during
    training (intermediate supervision; the losses are averaged over heads) and only the last
    one is evaluated at test time.

    Inputs and outputs as Detectron2's dense detectors: a list of dicts with ``"image"``
    (``[3, H, W]``, the backbone's input format), ``"instances"`` in training, optional
    ``"height"``/``"width"`` of the output at test time. Training returns the losses
    ``loss_cornernet_{hm_tl, hm_br, pull, push, offset}``; inference ``[{"instances": ...}]``.
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        in_features: List[str],
        heads: List[CornerNetHead],
        num_classes: int,
        target_generator: CornerNetTargetGenerator,
        postprocessor: CornerNetPostprocessor,
        focal_loss_alpha: float = 2.0,
        focal_loss_beta: float = 4.0,
        pull_weight: float = 0.1,
        push_weight: float = 0.1,
        offset_weight: float = 1.0,
        push_margin: float = 1.0,
        flip_test: bool = False,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
    ):
        """
        Args:
            backbone: outputs every name in ``in_features``, all of the same stride.
            in_features: backbone features, one per head; the last one is used at test time.
            heads: one head per entry of ``in_features``.
            num_classes: number of foreground classes.
            target_generator: builds the training targets.
            postprocessor: decodes the last head's outputs.
            focal_loss_alpha, focal_loss_beta: exponents of the heatmap focal loss (2, 4).
            pull_weight, push_weight, offset_weight: loss weights (0.1, 0.1, 1).
            push_margin: ``Delta`` of the push loss (1).
            flip_test: also decode the horizontally mirrored image and suppress the two sets of
                candidates together (CornerNet's flip testing).
            pixel_mean, pixel_std: input normalization (in the input's channel order).
        """
        super().__init__()
        if len(heads) != len(in_features):
            raise ValueError(f"{len(heads)} heads for {len(in_features)} in_features {in_features}")
        shapes = backbone.output_shape()
        missing = [f for f in in_features if f not in shapes]
        if missing:
            raise ValueError(f"The backbone has no features {missing}; it has {sorted(shapes)}")
        strides = {shapes[f].stride for f in in_features}
        if len(strides) != 1:
            raise ValueError(f"in_features {in_features} must share one stride, got {strides}")
        for name, head in zip(in_features, heads):
            if head.num_classes != num_classes:
                raise ValueError(
                    f"The head on '{name}' has {head.num_classes} classes, not {num_classes}"
                )
        if target_generator.num_classes != num_classes:
            raise ValueError(
                f"target_generator.num_classes={target_generator.num_classes} but "
                f"num_classes={num_classes}"
            )
        self.backbone = backbone
        self.in_features = list(in_features)
        self.heads = nn.ModuleList(heads)
        self.stride = strides.pop()
        self.num_classes = num_classes
        self.target_generator = target_generator
        self.postprocessor = postprocessor
        self.loss_kwargs = dict(
            focal_loss_alpha=focal_loss_alpha,
            focal_loss_beta=focal_loss_beta,
            pull_weight=pull_weight,
            push_weight=push_weight,
            offset_weight=offset_weight,
            push_margin=push_margin,
        )
        self.flip_test = flip_test
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def _normalized_images(self, batched_inputs: List[Dict[str, Tensor]]) -> List[Tensor]:
        return [
            (x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs
        ]

    def predict(self, images: Tensor, all_heads: bool) -> List[CornerPredictions]:
        """Head outputs on a padded batch ``[N, 3, H, W]``: of every head, or of the last."""
        features = self.backbone(images)
        pairs = list(zip(self.in_features, self.heads))
        if not all_heads:
            pairs = pairs[-1:]
        return [head(features[name]) for name, head in pairs]

    def forward(self, batched_inputs: List[Dict[str, Tensor]]):
        images = self._normalized_images(batched_inputs)
        if self.training:
            if "instances" not in batched_inputs[0]:
                raise ValueError("CornerNet needs 'instances' in its inputs to train")
            batch = ImageList.from_tensors(images, self.backbone.size_divisibility)
            gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
            return self.losses(self.predict(batch.tensor, all_heads=True), gt_instances)
        results = self.inference(images)
        processed = []
        for result, x in zip(results, batched_inputs):
            height = x.get("height", result.image_size[0])
            width = x.get("width", result.image_size[1])
            processed.append({"instances": detector_postprocess(result, height, width)})
        return processed

    def losses(
        self, predictions: List[CornerPredictions], gt_instances: List[Instances]
    ) -> Dict[str, Tensor]:
        """The losses of every head, averaged over heads."""
        targets = self.target_generator(
            predictions[0].tl_heatmap.shape[-2:], self.stride, gt_instances
        )
        normalizer = mean_over_workers(targets.num_objects)
        put_scalar("cornernet/num_objects_per_image", targets.num_objects / len(gt_instances))
        losses: Dict[str, Tensor] = {}
        for head_predictions in predictions:
            for name, value in cornernet_losses(
                head_predictions, targets, normalizer, **self.loss_kwargs
            ).items():
                losses[name] = losses.get(name, 0.0) + value / len(predictions)
        return losses

    @torch.no_grad()
    def inference(self, images: List[Tensor]) -> List[Instances]:
        """Detections of normalized ``[3, H_i, W_i]`` images, in their pixels."""
        num_images = len(images)
        sizes = [tuple(x.shape[-2:]) for x in images]
        if self.flip_test:
            images = images + [x.flip(-1) for x in images]
        batch = ImageList.from_tensors(images, self.backbone.size_divisibility)
        (predictions,) = self.predict(batch.tensor, all_heads=False)
        candidates = self.postprocessor.decode(predictions, self.stride)
        if self.flip_test:
            candidates = [
                merge_candidates(c, flip_candidates(f, width))
                for c, f, (_, width) in zip(candidates[:num_images], candidates[num_images:], sizes)
            ]
        return [self.postprocessor.select(c, size) for c, size in zip(candidates, sizes)]
