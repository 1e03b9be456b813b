"""The CenterNet meta-architecture: stride-4 backbone + :class:`CenterNetHead`, targets, losses
and decoding."""

from typing import Dict, List, Optional, Sequence, Tuple

from torch import Tensor

from anchorfree.modeling.heatmap_detector import HeatmapDetector
from anchorfree.modeling.original_test import OriginalTestPipeline
from anchorfree.modeling.test_time_augmentation import Detections

from detectron2.modeling import META_ARCH_REGISTRY, Backbone
from detectron2.structures import Boxes, Instances

from .head import CenterNetHead, CenterNetOutputs
from .losses import centernet_losses, check_normalizers
from .postprocess import CenterNetPostprocessor, merge_flipped, merge_scales
from .target_generator import CenterNetTargetGenerator, CenterNetTargets

__all__ = ["CenterNet"]


@META_ARCH_REGISTRY.register()
class CenterNet(HeatmapDetector):
    """
    CenterNet, "Objects as Points" (Zhou, Wang, Krahenbuhl, 2019): every object is the peak of
    its class heatmap at its box center on a stride-4 grid, with its size and the sub-cell
    offset of its center regressed at that cell. Decoding takes the top-K peaks of a 3x3
    max-pool, with no NMS.

    Input: Detectron2's list of dicts (``image`` ``[3, H, W]`` in ``input_format``; in training
    ``instances`` with ``gt_boxes`` in the image's pixels and ``gt_classes``; optionally the
    original ``height``/``width`` to rescale detections to). Training returns the losses
    ``loss_centernet_{hm,wh,offset}``; inference returns ``[{"instances": Instances}]``.
    Inference interface (``forward_raw``, ``decode``), flip test and multi-scale test: see
    :class:`~anchorfree.modeling.heatmap_detector.HeatmapDetector`; the scales are merged as
    the original merges them (:func:`~.postprocess.merge_scales`).

    Registered as ``"CenterNet"`` (Detectron2 v0.6 has no meta-architecture of that name;
    CenterNet2 registers a *proposal generator* "CenterNet" and a meta-architecture
    "CenterNetDetector", in other registries or under another name).
    """

    event_prefix = "centernet"
    # Mirror the padded batch: the flipped output maps, flipped back, line up cell for cell.
    flip_padded_batch = True

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
        heatmap_normalizer: str = "objects",
        regression_normalizer: str = "objects",
        flip_test: bool = False,
        test_scales: Sequence[float] = (1.0,),
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        clamp_test_probs: bool = True,
        test_pipeline: Optional[OriginalTestPipeline] = None,
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
            heatmap_normalizer, regression_normalizer: what the losses are divided by
                (:func:`~.losses.centernet_losses`): ``"objects"``, or the original's
                ``"peaks"`` and ``"coordinates"``.
            flip_test: at test time, also run every image flipped horizontally and average
                (see :func:`~.postprocess.merge_flipped`).
            test_scales: at test time, run every image resized by each of these factors (with
                the flip test at each) and merge the detections of all of them with soft-NMS
                (see :func:`~.postprocess.merge_scales`); ``(1.0,)``: the image as it is.
            pixel_mean, pixel_std: input normalization (BGR/RGB as the input format).
            clamp_test_probs: clamp the heatmap probabilities at test time too (False: the
                plain sigmoid, as the original decodes).
            test_pipeline: the original implementation's test pipeline instead of this
                class's (:mod:`anchorfree.modeling.original_test`; None: this class's).
        """
        classes = {
            "num_classes": num_classes,
            "head.num_classes": head.num_classes,
            "target_generator.num_classes": target_generator.num_classes,
        }
        if len(set(classes.values())) != 1:
            raise ValueError(f"Numbers of classes disagree: {classes}")
        super().__init__(
            backbone=backbone,
            head_in_features=head_in_features,
            num_classes=num_classes,
            target_generator=target_generator,
            postprocessor=postprocessor,
            prob_clamp=prob_clamp,
            flip_test=flip_test,
            test_scales=test_scales,
            pixel_mean=pixel_mean,
            pixel_std=pixel_std,
            clamp_test_probs=clamp_test_probs,
            test_pipeline=test_pipeline,
        )
        if head.num_inputs != len(self.head_in_features):
            raise ValueError(
                f"The head has branches for {head.num_inputs} inputs, but head_in_features "
                f"names {len(self.head_in_features)}: {self.head_in_features}"
            )
        self.head = head
        self.focal_loss_alpha = focal_loss_alpha
        self.focal_loss_beta = focal_loss_beta
        self.heatmap_loss_weight = heatmap_loss_weight
        self.wh_loss_weight = wh_loss_weight
        self.offset_loss_weight = offset_loss_weight
        check_normalizers(heatmap_normalizer, regression_normalizer)
        self.heatmap_normalizer = heatmap_normalizer
        self.regression_normalizer = regression_normalizer

    def predict_heads(
        self, features: Dict[str, Tensor], last_only: bool = False
    ) -> List[CenterNetOutputs]:
        if last_only:
            last = len(self.head_in_features) - 1
            return [self.head.predict(last, features[self.head_in_features[last]])]
        return self.head([features[f] for f in self.head_in_features])

    def head_losses(
        self, outputs: CenterNetOutputs, targets: CenterNetTargets
    ) -> Dict[str, Tensor]:
        return centernet_losses(
            outputs,
            targets,
            focal_loss_alpha=self.focal_loss_alpha,
            focal_loss_beta=self.focal_loss_beta,
            prob_clamp=self.prob_clamp,
            heatmap_loss_weight=self.heatmap_loss_weight,
            wh_loss_weight=self.wh_loss_weight,
            offset_loss_weight=self.offset_loss_weight,
            heatmap_normalizer=self.heatmap_normalizer,
            regression_normalizer=self.regression_normalizer,
        )

    def decode_single(
        self, outputs: CenterNetOutputs, image_sizes: Sequence[Tuple[int, int]]
    ) -> List[Instances]:
        scores = self.heatmap_probs(outputs.heatmap)
        return self.postprocessor(scores, outputs.wh, outputs.offset, self.stride, image_sizes)

    def decode_flipped(
        self, outputs: CenterNetOutputs, image_sizes: Sequence[Tuple[int, int]]
    ) -> List[Instances]:
        scores, wh, offset = merge_flipped(
            self.heatmap_probs(outputs.heatmap), outputs.wh, outputs.offset, len(image_sizes)
        )
        return self.postprocessor(scores, wh, offset, self.stride, image_sizes)

    def scale_detections(
        self, outputs: CenterNetOutputs, image_sizes: Sequence[Tuple[int, int]], *, flip: bool
    ) -> List[Detections]:
        return [
            Detections(r.pred_boxes.tensor, r.scores, r.pred_classes)
            for r in self.decode(outputs, image_sizes, flip=flip)
        ]

    def merge_scales(self, sets: Sequence[Detections], image_size: Tuple[int, int]) -> Instances:
        boxes, scores, classes = merge_scales(sets, self.postprocessor.topk)
        return Instances(image_size, pred_boxes=Boxes(boxes), scores=scores, pred_classes=classes)

    def decode_cells(self, outputs: CenterNetOutputs, *, flip: bool) -> Detections:
        """The top-K peaks of one image as boxes in output cells, every one of them (no score
        threshold, no clipping: the original's ``ctdet_decode``); with ``flip``, decoded from
        the flip-test merge of the maps."""
        scores, wh, offset = self.heatmap_probs(outputs.heatmap), outputs.wh, outputs.offset
        if flip:
            scores, wh, offset = merge_flipped(scores, wh, offset, 1)
        boxes, peaks = self.postprocessor.peak_boxes(scores, wh, offset, 1)
        return Detections(boxes[0], peaks.scores[0], peaks.classes[0])

    def decode_graph(
        self, outputs: CenterNetOutputs, image_size: Tuple[int, int], *, flip: bool = False
    ) -> Tuple[Tensor, Tensor, Tensor]:
        scores, wh, offset = self.heatmap_probs(outputs.heatmap), outputs.wh, outputs.offset
        if flip:
            scores, wh, offset = merge_flipped(scores, wh, offset, 1)
        boxes, peaks = self.postprocessor.peak_boxes(scores, wh, offset, self.stride)
        return self.postprocessor.select(boxes[0], peaks.scores[0], peaks.classes[0], image_size)
