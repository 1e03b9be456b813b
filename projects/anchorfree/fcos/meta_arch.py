"""The FCOS meta-architecture: backbone + :class:`AnchorFreeFCOSHead`, targets, losses and
decoding."""

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from anchorfree.modeling.events import put_scalar
from anchorfree.modeling.test_time_augmentation import (
    Detections,
    check_test_scales,
    flipped_batch,
    mirror_boxes,
    multi_scale_detections,
    nms_merge,
)

from detectron2.modeling import META_ARCH_REGISTRY, Backbone
from detectron2.modeling.meta_arch.dense_detector import DenseDetector
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, ImageList, Instances

from .head import AnchorFreeFCOSHead
from .losses import BOX_LOSS_TYPES, fcos_losses
from .postprocess import FCOSPostprocessor
from .target_generator import FCOSTargetGenerator, compute_points

__all__ = ["AnchorFreeFCOS"]

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
class AnchorFreeFCOS(DenseDetector):
    """
    FCOS (Tian et al., ICCV 2019; improved version arXiv:2006.09214) on a feature pyramid.

    Registered as ``"AnchorFreeFCOS"`` (Detectron2 registers its own, different, ``"FCOS"``).
    Differences from Detectron2's ``FCOS``: points at ``i*s + s//2``, a learnable scale per
    level, the classification threshold applied before centerness, the option of centerness on
    the classification branch, unnormalized (``exp``) box targets, IoU / linear-IoU losses,
    a centerness-weighted box loss, loss normalization by positives averaged over workers (an
    exponential moving average over iterations as an option, ``loss_normalizer_momentum``),
    and crowd-region support in the targets (see :mod:`.target_generator`).

    Inference interface, the same as the heatmap detectors': :meth:`forward_raw` (raw head
    outputs for a batch), :meth:`decode` (detections from those outputs for these image sizes)
    and :meth:`inference` (the two).

    Test-time augmentation, merged as Detectron2 (``GeneralizedRCNNWithTTA``) and the FCOS
    repository (``fcos_core/engine/bbox_aug.py``) merge: the detections of every view (the
    image; its mirror image with ``flip_test``, boxes mirrored back; each at every scale of
    ``test_scales``, boxes mapped back), each already decoded as usual (NMS, the best
    ``max_detections_per_image``), are put together, through the postprocessor's class-aware
    NMS (``nms_thresh``), and the ``max_detections_per_image`` best kept
    (:func:`~anchorfree.modeling.test_time_augmentation.nms_merge`).
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        head: AnchorFreeFCOSHead,
        head_in_features: Optional[List[str]] = None,
        num_classes: int,
        target_generator: FCOSTargetGenerator,
        postprocessor: FCOSPostprocessor,
        focal_loss_alpha: float = 0.25,
        focal_loss_gamma: float = 2.0,
        box_loss_type: str = "giou",
        iou_smoothing: float = 0.0,
        centerness_weighted_box_loss: bool = True,
        loss_normalizer_momentum: float = 0.0,
        flip_test: bool = False,
        test_scales: Sequence[float] = (1.0,),
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
    ):
        """
        Args:
            backbone: a backbone whose ``head_in_features`` are the pyramid levels.
            head: the FCOS head; ``head.norm_reg_targets`` must agree with the target generator
                and the postprocessor (``normalize_by_stride``).
            head_in_features: backbone features for the head, finest first (default: all of
                them, by stride).
            num_classes: number of foreground classes.
            target_generator: assigns training targets; the model decodes boxes from the
                same points (``target_generator.points_at_cell_centers``).
            postprocessor: turns predictions into detections.
            focal_loss_alpha, focal_loss_gamma: of the classification focal loss.
            box_loss_type: "giou", "iou" or "linear_iou".
            iou_smoothing: ``s`` of the loss's ``IoU = (I + s) / (U + s)``; 0 (default) is
                ``I / U``, the original implementations use 1 (see :func:`.losses.iou_loss`).
            centerness_weighted_box_loss: weight the box loss by the centerness targets.
            loss_normalizer_momentum: 0 (default, the original implementations): divide the
                losses by this batch's normalizers (positives; centerness sum); ``m`` in (0, 1):
                by their exponential moving average over iterations, ``n <- m * n + (1 - m) *
                this batch's``, from the first batch's. Detectron2's FCOS: 0.9 over its
                positives, from 300.
            flip_test: at test time, also run every image mirrored horizontally and merge the
                two sets of detections (see the class docstring).
            test_scales: at test time, run every image resized by each of these factors (with
                its mirror image at each under ``flip_test``) and merge all the detections;
                ``(1.0,)``: the image as it is.
            pixel_mean, pixel_std: input normalization (BGR/RGB as the input format).
        """
        super().__init__(
            backbone, head, head_in_features, pixel_mean=pixel_mean, pixel_std=pixel_std
        )
        if box_loss_type not in BOX_LOSS_TYPES:
            raise ValueError(
                f"box_loss_type must be one of {BOX_LOSS_TYPES}, got '{box_loss_type}'"
            )
        flags = {
            "head.norm_reg_targets": bool(getattr(head, "norm_reg_targets", True)),
            "target_generator.normalize_by_stride": target_generator.normalize_by_stride,
            "postprocessor.normalize_by_stride": postprocessor.normalize_by_stride,
        }
        if len(set(flags.values())) != 1:
            raise ValueError(f"Box target units disagree (stride units vs pixels): {flags}")
        if target_generator.num_classes != num_classes:
            raise ValueError(
                f"target_generator.num_classes={target_generator.num_classes} but "
                f"num_classes={num_classes}"
            )
        shapes = self.backbone.output_shape()
        self.strides = [shapes[f].stride for f in self.head_in_features]
        if len(target_generator.size_ranges) != len(self.strides):
            raise ValueError(
                f"{len(self.strides)} feature levels {self.head_in_features} but "
                f"{len(target_generator.size_ranges)} size ranges in the target generator"
            )
        self.num_classes = num_classes
        self.target_generator = target_generator
        self.postprocessor = postprocessor
        self.focal_loss_alpha = focal_loss_alpha
        self.focal_loss_gamma = focal_loss_gamma
        self.box_loss_type = box_loss_type
        self.iou_smoothing = float(iou_smoothing)
        self.centerness_weighted_box_loss = centerness_weighted_box_loss
        if not 0.0 <= loss_normalizer_momentum < 1.0:
            raise ValueError(
                f"loss_normalizer_momentum must be in [0, 1), got {loss_normalizer_momentum}"
            )
        self.loss_normalizer_momentum = float(loss_normalizer_momentum)
        self._loss_normalizers: Dict[str, float] = {}
        self.flip_test = bool(flip_test)
        self.test_scales = check_test_scales(test_scales)
        self._points_cache: Dict[Tuple, List[Tensor]] = {}

    def points(self, features: List[Tensor]) -> List[Tensor]:
        """Per level, the (H*W, 2) point coordinates of these feature maps, or of head outputs on
        them (cached by shape)."""
        shapes = tuple(tuple(f.shape[-2:]) for f in features)
        key = (shapes, features[0].device)
        if key not in self._points_cache:
            if len(self._points_cache) >= 16:
                self._points_cache.clear()
            self._points_cache[key] = compute_points(
                shapes,
                self.strides,
                features[0].device,
                at_cell_centers=self.target_generator.points_at_cell_centers,
            )
        return self._points_cache[key]

    def forward_training(
        self,
        images: ImageList,
        features: List[Tensor],
        predictions: List[List[Tensor]],
        gt_instances: List[Instances],
    ) -> Dict[str, Tensor]:
        pred_logits, pred_box, pred_ctrness = self._transpose_dense_predictions(
            predictions, [self.num_classes, 4, 1]
        )
        targets = self.target_generator(
            [f.shape[-2:] for f in features], self.strides, gt_instances
        )
        losses, stats = fcos_losses(
            torch.cat(pred_logits, dim=1),
            torch.cat(pred_box, dim=1),
            torch.cat(pred_ctrness, dim=1).squeeze(dim=2),
            targets.labels,
            targets.box_targets,
            num_classes=self.num_classes,
            focal_loss_alpha=self.focal_loss_alpha,
            focal_loss_gamma=self.focal_loss_gamma,
            box_loss_type=self.box_loss_type,
            iou_smoothing=self.iou_smoothing,
            centerness_weighted_box_loss=self.centerness_weighted_box_loss,
            smooth_normalizer=self.smooth_loss_normalizer
            if self.loss_normalizer_momentum
            else None,
        )
        put_scalar("fcos/num_pos_per_image", stats["num_pos"] / len(gt_instances))
        return losses

    def smooth_loss_normalizer(self, name: str, value: float) -> float:
        """The moving average (``loss_normalizer_momentum``) of the loss normalizer ``name``
        after this batch's ``value``."""
        momentum = self.loss_normalizer_momentum
        average = momentum * self._loss_normalizers.get(name, value) + (1.0 - momentum) * value
        self._loss_normalizers[name] = average
        return average

    @property
    def test_time_augmentation(self) -> bool:
        """Whether inference is more than the image as it is (flip or multi-scale test)."""
        return self.flip_test or tuple(self.test_scales) != (1.0,)

    def forward(self, batched_inputs: List[Dict[str, Tensor]]):
        """As :class:`DenseDetector`'s; at test time with test-time augmentation on, the
        detections of :meth:`inference`, rescaled to each input's ``height``/``width``."""
        if self.training or not self.test_time_augmentation:
            return super().forward(batched_inputs)
        # DenseDetector's forward would run the head on the batch as it is first.
        images = self.preprocess_image(batched_inputs)
        return [
            {"instances": detector_postprocess(r, x.get("height", s[0]), x.get("width", s[1]))}
            for r, x, s in zip(self.inference(images), batched_inputs, images.image_sizes)
        ]

    def forward_raw(
        self, images: ImageList, *, flip: bool = False
    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        """Raw head outputs for a batch: per level, class logits, box distances, centerness
        logits (as :class:`AnchorFreeFCOSHead`). With ``flip``, for the batch followed by its
        mirror images (``2N``; every image mirrored before it is padded), as :meth:`decode`
        with ``flip`` takes them."""
        if flip:
            images = flipped_batch(images, padded=False)
        features = self.backbone(images.tensor)
        return self.head([features[f] for f in self.head_in_features])

    def decode(
        self, predictions, image_sizes: Sequence[Tuple[int, int]], *, flip: bool = False
    ) -> List[Instances]:
        """Detections from :meth:`forward_raw` outputs, in the pixels of the unpadded images of
        ``image_sizes`` (one per image). With ``flip``, the outputs hold the ``N`` images then
        their mirror images (:meth:`forward_raw` with ``flip``), merged (see the class
        docstring)."""
        if flip:
            views = self.decode_views(predictions, image_sizes, flip=True)
            return [self.merge_views(v, size) for v, size in zip(views, image_sizes)]
        pred_logits, pred_box, pred_ctrness = self._transpose_dense_predictions(
            predictions, [self.num_classes, 4, 1]
        )
        return self.postprocessor(
            self.points(predictions[0]),
            self.strides,
            pred_logits,
            pred_box,
            pred_ctrness,
            image_sizes,
        )

    def decode_views(
        self, predictions, image_sizes: Sequence[Tuple[int, int]], *, flip: bool
    ) -> List[List[Detections]]:
        """Per image, the detections of each of its views in its own pixels, not merged: of the
        image, and with ``flip`` of its mirror image (mirrored back); outputs as :meth:`decode`
        takes them."""
        sizes = list(image_sizes) * (2 if flip else 1)
        results = self.decode(predictions, sizes)
        views = [[Detections(r.pred_boxes.tensor, r.scores, r.pred_classes)] for r in results]
        if flip:
            num_images = len(image_sizes)
            for image_views, mirrored, (_, width) in zip(views, results[num_images:], image_sizes):
                image_views.append(
                    Detections(
                        mirror_boxes(mirrored.pred_boxes.tensor, width),
                        mirrored.scores,
                        mirrored.pred_classes,
                    )
                )
            views = views[:num_images]
        return views

    def merge_views(self, views: Sequence[Detections], image_size: Tuple[int, int]) -> Instances:
        """One image's detections from those of its views (in its pixels): class-aware NMS
        over all of them, the ``max_detections_per_image`` best."""
        boxes, scores, classes = nms_merge(
            views,
            self.postprocessor.nms_thresh,
            self.postprocessor.max_detections_per_image,
            image_size,
        )
        return Instances(image_size, pred_boxes=Boxes(boxes), scores=scores, pred_classes=classes)

    def decode_graph(
        self, predictions, image_size: Tuple[int, int], *, flip: bool = False
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """
        The detections of one image from :meth:`forward_raw` outputs (a batch of that image,
        followed by its mirror image with ``flip``, merged as :meth:`decode` merges them), as
        ``(boxes [D, 4], scores [D], classes [D])`` in the pixels of its unpadded
        ``image_size``, with tensor operations only: the end of the exported graph
        (:mod:`anchorfree.export`).
        """
        pred_logits, pred_box, pred_ctrness = self._transpose_dense_predictions(
            predictions, [self.num_classes, 4, 1]
        )
        points = compute_points(
            [p.shape[-2:] for p in predictions[0]],
            self.strides,
            predictions[0][0].device,
            at_cell_centers=self.target_generator.points_at_cell_centers,
        )

        def select(i: int) -> Tuple[Tensor, Tensor, Tensor]:
            return self.postprocessor.select_graph(
                points,
                self.strides,
                [x[i] for x in pred_logits],
                [x[i] for x in pred_box],
                [x[i] for x in pred_ctrness],
                image_size,
            )

        if not flip:
            return select(0)
        boxes, scores, classes = select(1)
        mirrored = Detections(mirror_boxes(boxes, image_size[1]), scores, classes)
        return tuple(
            nms_merge(
                [Detections(*select(0)), mirrored],
                self.postprocessor.nms_thresh,
                self.postprocessor.max_detections_per_image,
                image_size,
            )
        )

    @torch.no_grad()
    def inference(self, images: ImageList) -> List[Instances]:
        """Detections in the coordinates of the (unpadded) preprocessed images, with the flip
        and multi-scale tests where they are on."""
        if tuple(self.test_scales) == (1.0,):
            outputs = self.forward_raw(images, flip=self.flip_test)
            return self.decode(outputs, images.image_sizes, flip=self.flip_test)

        def detect(scaled: ImageList) -> List[List[Detections]]:
            outputs = self.forward_raw(scaled, flip=self.flip_test)
            return self.decode_views(outputs, scaled.image_sizes, flip=self.flip_test)

        per_image = multi_scale_detections(
            images, self.test_scales, self.backbone.size_divisibility, detect
        )
        return [self.merge_views(v, size) for v, size in zip(per_image, images.image_sizes)]

    def forward_inference(
        self, images: ImageList, features: List[Tensor], predictions: List[List[Tensor]]
    ) -> List[Instances]:
        return self.decode(predictions, images.image_sizes)
