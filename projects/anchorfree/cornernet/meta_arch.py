"""The CornerNet meta-architecture: backbone, one :class:`CornerNetHead` per feature map,
targets, losses and decoding."""

from typing import Dict, List, Optional, Sequence, Tuple

from torch import Tensor, nn

from anchorfree.modeling.heatmap_detector import HeatmapDetector
from anchorfree.modeling.original_test import OriginalTestPipeline
from anchorfree.modeling.test_time_augmentation import Detections, concat_detections

from detectron2.modeling import META_ARCH_REGISTRY, Backbone
from detectron2.structures import Instances

from .head import CornerNetHead, CornerPredictions
from .losses import check_embedding_loss_reduction, cornernet_losses
from .postprocess import (
    CornerCandidates,
    CornerNetPostprocessor,
    flip_candidates,
    merge_candidates,
)
from .target_generator import CornerNetTargetGenerator, CornerNetTargets

__all__ = ["CornerNet"]


@META_ARCH_REGISTRY.register()
class CornerNet(HeatmapDetector):
    """
    CornerNet (Law & Deng, ECCV 2018): objects as pairs of top-left and bottom-right corners,
    found on corner heatmaps and grouped by 1-d associative embeddings.

    The backbone's ``head_in_features`` all have the same stride (4); each gets its own head.
    With several (the stacks of Hourglass-104, ``["hg1", "hg2"]``), every head is supervised
    during training (intermediate supervision; the losses are averaged over heads) and only the
    last one is evaluated at test time.

    Inputs and outputs as Detectron2's dense detectors: a list of dicts with ``"image"``
    (``[3, H, W]``, the backbone's input format), ``"instances"`` in training, optional
    ``"height"``/``"width"`` of the output at test time. Training returns the losses
    ``loss_cornernet_{hm_tl, hm_br, pull, push, offset}``; inference ``[{"instances": ...}]``.
    Inference interface (``forward_raw``, ``decode``), flip test and multi-scale test: see
    :class:`~anchorfree.modeling.heatmap_detector.HeatmapDetector`; the candidates of every
    scale (and mirror image) go through the one suppression together, as in CornerNet.
    """

    event_prefix = "cornernet"
    # Mirror every image before padding, so that its boxes map back by x -> width - x.
    flip_padded_batch = False

    def __init__(
        self,
        *,
        backbone: Backbone,
        head_in_features: List[str],
        heads: List[CornerNetHead],
        num_classes: int,
        target_generator: CornerNetTargetGenerator,
        postprocessor: CornerNetPostprocessor,
        focal_loss_alpha: float = 2.0,
        focal_loss_beta: float = 4.0,
        prob_clamp: float = 1e-4,
        pull_weight: float = 0.1,
        push_weight: float = 0.1,
        offset_weight: float = 1.0,
        push_margin: float = 1.0,
        embedding_loss_reduction: str = "mean",
        flip_test: bool = False,
        test_scales: Sequence[float] = (1.0,),
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        clamp_test_probs: bool = True,
        test_pipeline: Optional[OriginalTestPipeline] = None,
    ):
        """
        Args:
            backbone: outputs every name in ``head_in_features``, all of the same stride.
            head_in_features: backbone features, one per head; the last one is used at test
                time.
            heads: one head per entry of ``head_in_features``.
            num_classes: number of foreground classes.
            target_generator: builds the training targets.
            postprocessor: decodes the last head's outputs.
            focal_loss_alpha, focal_loss_beta: exponents of the heatmap focal loss (2, 4).
            prob_clamp: heatmap probabilities are clamped to ``[prob_clamp, 1 - prob_clamp]``
                in the loss and at test time.
            pull_weight, push_weight, offset_weight: loss weights (0.1, 0.1, 1).
            push_margin: ``Delta`` of the push loss (1).
            embedding_loss_reduction: pull and push over the images of a batch: "mean" over
                the images where each is defined, or "sum" (the original code's); see
                :mod:`.losses`.
            flip_test: also decode the horizontally mirrored image and suppress the two sets of
                candidates together (CornerNet's flip testing).
            test_scales: at test time, decode every image resized by each of these factors
                (with its mirror image at each under ``flip_test``) and suppress all their
                candidates together (CornerNet's multi-scale testing); ``(1.0,)``: the image
                as it is.
            pixel_mean, pixel_std: input normalization (in the input's channel order).
            clamp_test_probs: clamp the heatmap probabilities at test time as in the loss
                (off: the plain sigmoid, as the original code decodes).
            test_pipeline: the original implementation's test pipeline instead of this
                class's (:mod:`anchorfree.modeling.original_test`; None: this class's).
        """
        if len(heads) != len(head_in_features):
            raise ValueError(
                f"{len(heads)} heads for {len(head_in_features)} head_in_features "
                f"{head_in_features}"
            )
        for name, head in zip(head_in_features, heads):
            if head.num_classes != num_classes:
                raise ValueError(
                    f"The head on '{name}' has {head.num_classes} classes, not {num_classes}"
                )
        check_embedding_loss_reduction(embedding_loss_reduction)
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
        self.heads = nn.ModuleList(heads)
        self.loss_kwargs = dict(
            focal_loss_alpha=focal_loss_alpha,
            focal_loss_beta=focal_loss_beta,
            pull_weight=pull_weight,
            push_weight=push_weight,
            offset_weight=offset_weight,
            push_margin=push_margin,
            embedding_loss_reduction=embedding_loss_reduction,
        )

    def predict_heads(
        self, features: Dict[str, Tensor], last_only: bool = False
    ) -> List[CornerPredictions]:
        pairs = list(zip(self.head_in_features, self.heads))
        if last_only:
            pairs = pairs[-1:]
        return [head(features[name]) for name, head in pairs]

    def head_losses(
        self, outputs: CornerPredictions, targets: CornerNetTargets
    ) -> Dict[str, Tensor]:
        return cornernet_losses(outputs, targets, prob_clamp=self.prob_clamp, **self.loss_kwargs)

    def _with_probs(self, outputs: CornerPredictions) -> CornerPredictions:
        return outputs._replace(
            tl_heatmap=self.heatmap_probs(outputs.tl_heatmap),
            br_heatmap=self.heatmap_probs(outputs.br_heatmap),
        )

    def decode_single(
        self, outputs: CornerPredictions, image_sizes: Sequence[Tuple[int, int]]
    ) -> List[Instances]:
        return self.postprocessor(self._with_probs(outputs), self.stride, image_sizes)

    def candidates(
        self, outputs: CornerPredictions, image_sizes: Sequence[Tuple[int, int]], *, flip: bool
    ) -> List[CornerCandidates]:
        """Per image, its valid corner pairs before the suppression; with ``flip``, merged
        with those of its mirror image (mapped back)."""
        candidates = self.postprocessor.decode(self._with_probs(outputs), self.stride)
        if not flip:
            return candidates
        num_images = len(image_sizes)
        return [
            merge_candidates(original, flip_candidates(mirrored, width))
            for original, mirrored, (_, width) in zip(
                candidates[:num_images], candidates[num_images:], image_sizes
            )
        ]

    def decode_flipped(
        self, outputs: CornerPredictions, image_sizes: Sequence[Tuple[int, int]]
    ) -> List[Instances]:
        merged = self.candidates(outputs, image_sizes, flip=True)
        return [self.postprocessor.select(c, size) for c, size in zip(merged, image_sizes)]

    def scale_detections(
        self, outputs: CornerPredictions, image_sizes: Sequence[Tuple[int, int]], *, flip: bool
    ) -> List[Detections]:
        return [Detections(*c) for c in self.candidates(outputs, image_sizes, flip=flip)]

    def merge_scales(self, sets: Sequence[Detections], image_size: Tuple[int, int]) -> Instances:
        return self.postprocessor.select(CornerCandidates(*concat_detections(sets)), image_size)

    def decode_cells(self, outputs: CornerPredictions, *, flip: bool) -> Detections:
        """The valid corner pairs of one image in output cells; with ``flip``, with those of
        its mirror image mapped back by ``x -> W - x`` (``W`` the width of the output maps), as
        the original's ``kp_detection`` merges them."""
        candidates = self.postprocessor.decode(self._with_probs(outputs), 1)
        merged = candidates[0]
        if flip:
            width = outputs.tl_heatmap.shape[-1]
            merged = merge_candidates(merged, flip_candidates(candidates[1], width))
        return Detections(*merged)

    def decode_graph(
        self, outputs: CornerPredictions, image_size: Tuple[int, int], *, flip: bool = False
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """The valid corner pairs of one image (see :meth:`HeatmapDetector.decode_graph`),
        before the suppression: soft-NMS is a loop of data-dependent length with no graph form,
        so an exported CornerNet ends here and ``postprocessor.select`` runs after it."""
        candidates = self.postprocessor.decode(self._with_probs(outputs), self.stride)
        merged = candidates[0]
        if flip:
            merged = merge_candidates(merged, flip_candidates(candidates[1], image_size[1]))
        return merged.boxes, merged.scores, merged.classes
