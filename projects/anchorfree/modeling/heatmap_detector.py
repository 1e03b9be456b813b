"""
The base of the heatmap detectors (CenterNet, CornerNet): a stride-``s`` backbone whose
``head_in_features`` (several for the stacks of an Hourglass) each get a head, heatmap targets
on that grid, losses averaged over the heads, and decoding of the last head.

What it holds: pixel normalization, ``device``, ``preprocess_image``, the train/inference
switch of ``forward``, the rescaling of detections to the requested output size
(``detector_postprocess``), the average of the losses over the heads, the flip test, the
multi-scale test (``test_scales``, :mod:`.test_time_augmentation`), the clamped heatmap
probabilities (``prob_clamp``, in the loss and, unless ``clamp_test_probs`` is off, at test
time), and the original implementations' test pipelines (``test_pipeline``,
:mod:`.original_test`), which replace the test path above when set.

Public inference interface, shared with :class:`anchorfree.fcos.AnchorFreeFCOS`:

* ``forward_raw(images: ImageList)``: the raw outputs of the decoded head for a batch;
* ``decode(outputs, image_sizes)``: detections from those outputs, in the pixels of the
  unpadded images of ``image_sizes``;
* ``inference(images)``: the two, with the flip test when ``flip_test``, at every scale of
  ``test_scales`` (merged) when there is more than ``(1.0,)``;
* ``decode_cells(outputs, flip=...)``: one image's detections in output cells, as the original
  decodes them (for ``test_pipeline``).

A subclass provides its heads (``predict_heads``), the losses of one head (``head_losses``),
the two decodings (``decode_single``, ``decode_flipped``), for the multi-scale test the
detections of one scale before the merge (``scale_detections``) and the merge
(``merge_scales``), and for the originals' pipelines ``decode_cells``.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from detectron2.modeling import Backbone
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, ImageList, Instances

from .events import put_scalar
from .heatmap_loss import clamped_sigmoid
from .original_test import OriginalTestPipeline
from .test_time_augmentation import (
    Detections,
    check_test_scales,
    flipped_batch,
    multi_scale_detections,
)

__all__ = ["HeatmapDetector", "mean_over_heads"]


def mean_over_heads(per_head: Sequence[Dict[str, Tensor]]) -> Dict[str, Tensor]:
    """The mean of each loss over the heads (intermediate supervision of stacked backbones)."""
    losses: Dict[str, Tensor] = {}
    for head_losses in per_head:
        for name, value in head_losses.items():
            losses[name] = losses.get(name, 0.0) + value / len(per_head)
    return losses


class HeatmapDetector(nn.Module):
    """
    See the module docstring. Inputs and outputs as Detectron2's meta-architectures: a list of
    dicts with ``"image"`` (``[3, H, W]`` in the backbone's input format), ``"instances"`` in
    training, optional ``"height"``/``"width"`` of the output at test time. Training returns
    the losses; inference ``[{"instances": Instances}]``.
    """

    # The flip test mirrors the padded batch as a whole (True: every output map mirrored back
    # lines up cell for cell with the original's) or every image before it is padded (False:
    # boxes map back by x -> width - x).
    flip_padded_batch: bool = True
    # Prefix of the event-storage scalars, e.g. "centernet/num_objects_per_image".
    event_prefix: str = "heatmap"

    def __init__(
        self,
        *,
        backbone: Backbone,
        head_in_features: Optional[List[str]],
        num_classes: int,
        target_generator,
        postprocessor,
        prob_clamp: float,
        flip_test: bool,
        test_scales: Sequence[float] = (1.0,),
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        clamp_test_probs: bool = True,
        test_pipeline: Optional[OriginalTestPipeline] = None,
    ):
        """
        Args:
            backbone: outputs the ``head_in_features``, all of one stride.
            head_in_features: backbone outputs, one per head (default: all of them); every
                head is supervised in training, the last one is decoded at test time.
            num_classes: number of foreground classes (heatmap channels).
            target_generator: callable ``(output_size, stride, gt_instances)`` -> targets
                with a ``num_objects``, and a ``num_classes``.
            postprocessor: the subclass's decoder.
            prob_clamp: heatmap probabilities are clamped to ``[prob_clamp, 1 - prob_clamp]``
                in the loss and at test time.
            flip_test: at test time, also run every image mirrored horizontally and merge.
            test_scales: at test time, run every image resized by each of these factors and
                merge (:meth:`merge_scales`); ``(1.0,)``: the image as it is.
            pixel_mean, pixel_std: input normalization (in the input's channel order).
            clamp_test_probs: clamp the probabilities at test time as in the loss. Off: the
                plain sigmoid, as the original CornerNet (``kp_utils.py`` ``_decode``) and
                CenterNet (``output['hm'].sigmoid_()``) code decode; the clamp turns every
                probability under ``prob_clamp`` into ``prob_clamp``, so that flat background
                cells pass the peak test as ties.
            test_pipeline: at inference, run this original test pipeline on every input image
                as it is (with ``flip_test`` and ``test_scales``) instead of the test path of
                this class; the inputs must then be unresized images with pixel values 0-255
                (the test mapper without augmentations). None: this class's own.
        """
        super().__init__()
        shapes = backbone.output_shape()
        self.head_in_features = list(head_in_features or shapes)
        missing = [f for f in self.head_in_features if f not in shapes]
        if missing:
            raise ValueError(f"The backbone has no features {missing}; it has {sorted(shapes)}")
        strides = {shapes[f].stride for f in self.head_in_features}
        if len(strides) != 1:
            raise ValueError(
                f"Head inputs {self.head_in_features} must share one stride, got {strides}"
            )
        if target_generator.num_classes != num_classes:
            raise ValueError(
                f"target_generator.num_classes={target_generator.num_classes} but "
                f"num_classes={num_classes}"
            )
        self.backbone = backbone
        self.stride = strides.pop()
        self.num_classes = num_classes
        self.target_generator = target_generator
        self.postprocessor = postprocessor
        self.prob_clamp = prob_clamp
        self.clamp_test_probs = bool(clamp_test_probs)
        self.flip_test = flip_test
        self.test_scales = check_test_scales(test_scales)
        self.clamp_test_probs = bool(clamp_test_probs)
        self.test_pipeline = test_pipeline
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
        if not self.training and self.test_pipeline is not None:
            return [{"instances": self.original_inference(x)} for x in batched_inputs]
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
            raise ValueError(f"{type(self).__name__} needs 'instances' in every input to train")
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        return self.losses(self.predict_heads(self.backbone(images.tensor)), gt_instances)

    def losses(self, outputs: list, gt_instances: List[Instances]) -> Dict[str, Tensor]:
        """The losses of every head's ``outputs`` (as :meth:`predict_heads`), averaged over
        heads."""
        grid = outputs[0][0].shape[-2:]  # the first output of every head is a heatmap
        targets = self.target_generator(grid, self.stride, gt_instances)
        put_scalar(
            f"{self.event_prefix}/num_objects_per_image", targets.num_objects / len(gt_instances)
        )
        return mean_over_heads([self.head_losses(o, targets) for o in outputs])

    @torch.no_grad()
    def original_inference(self, batched_input: Dict[str, Tensor]) -> Instances:
        """One input's detections by ``test_pipeline``, in the pixels of its ``image``, or of
        its ``height`` x ``width`` when given (boxes scaled, not clipped: the originals do not
        clip CenterNet's)."""
        image = batched_input["image"]
        result = self.test_pipeline(self, image, self.test_scales, self.flip_test)
        size = image.shape[-2:]
        height = batched_input.get("height", size[0])
        width = batched_input.get("width", size[1])
        if (height, width) == tuple(size):
            return result
        factors = result.pred_boxes.tensor.new_tensor(
            [width / size[1], height / size[0], width / size[1], height / size[0]]
        )
        fields = result.get_fields()
        fields["pred_boxes"] = Boxes(fields["pred_boxes"].tensor * factors)
        return Instances((height, width), **fields)

    def heatmap_probs(self, logits: Tensor) -> Tensor:
        """Heatmap probabilities at test time, in float32: as the loss sees them (the clamped
        sigmoid), or the plain sigmoid when ``clamp_test_probs`` is off."""
        if not self.clamp_test_probs:
            return torch.sigmoid(logits.float())
        return clamped_sigmoid(logits.float(), self.prob_clamp)

    def forward_raw(self, images: ImageList, *, flip: bool = False):
        """
        Raw outputs of the decoded (last) head for a batch. With ``flip``, for the batch
        followed by its mirror images (``2N``), as :meth:`decode` with ``flip`` takes them.
        """
        if flip:
            images = self.flipped_batch(images)
        return self.predict_heads(self.backbone(images.tensor), last_only=True)[0]

    def flipped_batch(self, images: ImageList) -> ImageList:
        """The ``N`` images of a batch followed by their mirror images (see
        ``flip_padded_batch``)."""
        return flipped_batch(images, padded=self.flip_padded_batch)

    def decode(
        self, outputs, image_sizes: Sequence[Tuple[int, int]], *, flip: bool = False
    ) -> List[Instances]:
        """
        Detections from :meth:`forward_raw` outputs, in the pixels of the unpadded images of
        ``image_sizes`` (one per image). With ``flip``, the outputs hold the ``N`` images then
        their mirror images (:meth:`forward_raw` with ``flip``), merged as the flip test.
        """
        if flip:
            return self.decode_flipped(outputs, image_sizes)
        return self.decode_single(outputs, image_sizes)

    @torch.no_grad()
    def inference(self, images: ImageList) -> List[Instances]:
        """Detections in the coordinates of the (unpadded) preprocessed images."""
        if tuple(self.test_scales) != (1.0,):
            return self.multi_scale_inference(images)
        outputs = self.forward_raw(images, flip=self.flip_test)
        return self.decode(outputs, images.image_sizes, flip=self.flip_test)

    @torch.no_grad()
    def multi_scale_inference(self, images: ImageList) -> List[Instances]:
        """The multi-scale test (:mod:`.test_time_augmentation`): at every scale of
        ``test_scales`` (with the flip test when ``flip_test``), the detections mapped back to
        the images of ``images``, then merged by :meth:`merge_scales`."""

        def detect(scaled: ImageList) -> List[List[Detections]]:
            outputs = self.forward_raw(scaled, flip=self.flip_test)
            found = self.scale_detections(outputs, scaled.image_sizes, flip=self.flip_test)
            return [[d] for d in found]

        per_image = multi_scale_detections(
            images, self.test_scales, self.backbone.size_divisibility, detect
        )
        return [self.merge_scales(sets, size) for sets, size in zip(per_image, images.image_sizes)]

    # To be provided by a subclass.

    def predict_heads(self, features: Dict[str, Tensor], last_only: bool = False) -> list:
        """The outputs of every head on its input of ``features`` (only the last with
        ``last_only``), as a list, one per head."""
        raise NotImplementedError

    def head_losses(self, outputs, targets) -> Dict[str, Tensor]:
        """The weighted losses of one head's outputs."""
        raise NotImplementedError

    def decode_single(self, outputs, image_sizes: Sequence[Tuple[int, int]]) -> List[Instances]:
        raise NotImplementedError

    def decode_flipped(self, outputs, image_sizes: Sequence[Tuple[int, int]]) -> List[Instances]:
        raise NotImplementedError

    def scale_detections(
        self, outputs, image_sizes: Sequence[Tuple[int, int]], *, flip: bool
    ) -> List[Detections]:
        """Per image, what one scale of the multi-scale test contributes to the merge, from
        :meth:`forward_raw` outputs (with ``flip`` as :meth:`decode`), in the pixels of the
        unpadded images of ``image_sizes``."""
        raise NotImplementedError

    def merge_scales(self, sets: Sequence[Detections], image_size: Tuple[int, int]) -> Instances:
        """One image's detections from its :meth:`scale_detections` of every scale (in the
        pixels of its unscaled image of ``image_size``)."""
        raise NotImplementedError

    def decode_cells(self, outputs, *, flip: bool) -> Detections:
        """The detections of one image from :meth:`forward_raw` outputs (of that image,
        followed by its mirror image with ``flip``), merged over the mirror as the original
        merges it, in output cells (XYXY, not clipped): what the original's decoder gives
        before its back-mapping (:mod:`.original_test`)."""
        raise NotImplementedError

    def decode_graph(
        self, outputs, image_size: Tuple[int, int], *, flip: bool = False
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """
        The detections of one image from :meth:`forward_raw` outputs (of that image, followed
        by its mirror image with ``flip``), as ``(boxes [D, 4], scores [D], classes [D])`` in
        the pixels of the unpadded image of ``image_size``, with tensor operations only: the
        end of the exported graph (:mod:`anchorfree.export`).
        """
        raise NotImplementedError
