"""
The original implementations' test pipelines, for weights converted from them: CenterNet's
``CtdetDetector`` (``src/lib/detectors/base_detector.py`` ``pre_process``/``run``, ``ctdet.py``,
``utils/image.py``, ``utils/post_process.py``) and CornerNet's ``kp_detection``
(``test/coco.py``, ``utils/image.py``).

Both take the image as read by ``cv2.imread`` (``H x W x 3`` uint8, BGR) and, for every test
scale ``s``:

1. resize it with ``cv2.resize`` (bilinear) to ``int(H * s) x int(W * s)``;
2. place it in the network input (the *input transform*): CenterNet warps it with
   ``cv2.warpAffine`` (bilinear, black outside), either to a fixed ``512 x 512`` about the image
   centre with the longer side fitted (``s = max(H, W)``: the original's ``fix_res``, where the
   longer side of the *unscaled* image is what fits, so a scale below 1 leaves a border) or,
   with ``keep_res``, translated into ``(h | pad) + 1 x (w | pad) + 1``
   (:class:`CenterNetInputTransform`); CornerNet copies it, centred, into a black
   ``(h | 127) x (w | 127)`` canvas (``crop_image``, :class:`CornerNetInputTransform`);
3. normalize: ``(pixel / 255 - mean) / std`` in the BGR order, computed in float64 and stored as
   float32 (:func:`normalized_input`);
4. run the network on that input (and on its mirror image in the same batch under the flip
   test), decode in output cells, and map the boxes back to the pixels of the unscaled image:
   CenterNet through the inverse affine transform (``transform_preds``), CornerNet by the
   output/input ratio, the canvas border and a clip to the scaled image
   (``_rescale_dets``); then divide by ``s``.

The detections of all scales are merged (:func:`merge_original`): per class, soft-NMS
(CenterNet only when there are several scales, CornerNet always), then the ``max_per_image``
best over all classes, ties at the last place kept as the originals keep them (every score at
least the ``max_per_image``-th largest). Boxes are in the pixels of the input image, not
clipped beyond what the originals clip.

The affine matrices are built as the original's ``get_affine_transform`` builds them (three
point pairs in float32, solved by ``cv2.getAffineTransform``, float64), so that the network
input and the back-mapping are those of the original bit for bit; the decoding and the
suppression are this project's (the detector's ``decode_cells``, :mod:`.soft_nms` with the
options of the config).

How it plugs in: a detector built with ``test_pipeline=OriginalTestPipeline(...)``
(:class:`~.heatmap_detector.HeatmapDetector`) runs it at inference instead of its own test
path, on the image as the test mapper gives it (no resize: the config's test augmentations are
``[]``), with its own ``flip_test`` and ``test_scales``; the detections come back in the pixels
of that image, so ``DefaultPredictor``, ``COCOEvaluator`` and the demo work unchanged.
"""

from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor

from detectron2.structures import Boxes, ImageList, Instances

from .soft_nms import batched_soft_nms
from .test_time_augmentation import Detections, concat_detections

__all__ = [
    "ORIGINAL_COCO_MEAN",
    "ORIGINAL_COCO_STD",
    "CenterNetInputTransform",
    "CornerNetInputTransform",
    "OriginalTestPipeline",
    "PreparedInput",
    "affine_matrix",
    "merge_original",
    "normalized_input",
    "top_by_threshold",
]

INPUT_FORMATS = ("BGR", "RGB")
# The COCO statistics both originals normalize with (CornerNet's db/coco.py, which CenterNet's
# src/lib/datasets/dataset/coco.py copies): of BGR pixels / 255.
ORIGINAL_COCO_MEAN = [0.40789654, 0.44719302, 0.47026115]
ORIGINAL_COCO_STD = [0.28863828, 0.27408164, 0.27809835]


class PreparedInput(NamedTuple):
    """One scale's network input and the way back from its output cells."""

    image: np.ndarray  # [H_in, W_in, 3] uint8, the network input before normalization
    to_image: Callable[[Tensor], Tensor]  # [D, 4] XYXY output cells -> pixels of the image


def scaled_size(height: int, width: int, scale: float) -> Tuple[int, int]:
    """The originals' resized size: ``int(side * scale)`` (truncated)."""
    return int(height * scale), int(width * scale)


def affine_matrix(
    center: Sequence[float],
    size: Sequence[float],
    output_size: Tuple[int, int],
    *,
    inverse: bool = False,
) -> np.ndarray:
    """
    The original's ``get_affine_transform(center, size, 0, output_size, inv=inverse)``: the
    ``[2, 3]`` float64 matrix that maps the point ``center`` of the source to the centre of an
    ``output_size = (width, height)`` target and a source width of ``size[0]`` to the target's
    width (the same factor vertically: only ``size[0]`` matters), without rotation; with
    ``inverse``, the matrix of the way back.

    As the original: the point pairs (the centres, the points half a width above them, and the
    points a quarter turn from those) are float32, and ``cv2.getAffineTransform`` solves for the
    matrix.
    """
    center = np.asarray(center, dtype=np.float32)
    source_width = np.float32(size[0])
    out_width, out_height = output_size
    source = np.zeros((3, 2), dtype=np.float32)
    target = np.zeros((3, 2), dtype=np.float32)
    source[0] = center
    source[1] = center + np.array([0, source_width * -0.5], dtype=np.float32)
    target[0] = [out_width * 0.5, out_height * 0.5]
    target[1] = target[0] + np.array([0, out_width * -0.5], dtype=np.float32)
    source[2] = _third_point(source[0], source[1])
    target[2] = _third_point(target[0], target[1])
    if inverse:
        return cv2.getAffineTransform(target, source)
    return cv2.getAffineTransform(source, target)


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b`` plus ``a - b`` turned a quarter (the third point of an affine triple)."""
    direction = a - b
    return b + np.array([-direction[1], direction[0]], dtype=np.float32)


def apply_affine(boxes: Tensor, matrix: np.ndarray) -> Tensor:
    """``[D, 4]`` XYXY float32 boxes mapped corner by corner by the ``[2, 3]`` ``matrix``, in
    float64 and stored as float32 (the original's ``transform_preds``)."""
    t = torch.as_tensor(matrix, dtype=torch.float64, device=boxes.device)
    points = boxes.double().view(-1, 2)
    x, y = points[:, 0], points[:, 1]
    mapped = torch.stack(
        [x * t[0, 0] + y * t[0, 1] + t[0, 2], x * t[1, 0] + y * t[1, 1] + t[1, 2]], dim=1
    )
    return mapped.view(-1, 4).to(boxes.dtype)


class CenterNetInputTransform:
    """
    CenterNet's ``pre_process`` (see the module docstring) and the back-mapping of its
    ``ctdet_post_process``. ``input_size`` (512): the fixed ``input_size x input_size`` warp
    (``fix_res``); ``None``: ``keep_res``, the input ``(h | pad) + 1 x (w | pad) + 1`` (pad 31,
    127 for the Hourglass) with the image translated into it.
    """

    def __init__(self, *, input_size: Optional[int] = 512, pad: int = 31, down_ratio: int = 4):
        """
        Args:
            input_size: side of the fixed square input, or None for ``keep_res``.
            pad: of ``keep_res``: the input sides are ``side | pad`` plus 1.
            down_ratio: the network's output stride.
        """
        self.input_size = None if input_size is None else int(input_size)
        self.pad = int(pad)
        self.down_ratio = int(down_ratio)

    def __call__(self, image: np.ndarray, scale: float) -> PreparedInput:
        """``image``: ``[H, W, 3]`` uint8 BGR."""
        height, width = image.shape[:2]
        new_height, new_width = scaled_size(height, width, scale)
        if self.input_size is not None:
            input_height = input_width = self.input_size
            center = [new_width / 2.0, new_height / 2.0]
            size = [float(max(height, width))] * 2
        else:
            input_height = (new_height | self.pad) + 1
            input_width = (new_width | self.pad) + 1
            center = [new_width // 2, new_height // 2]
            size = [input_width, input_height]
        resized = cv2.resize(image, (new_width, new_height))
        warped = cv2.warpAffine(
            resized,
            affine_matrix(center, size, (input_width, input_height)),
            (input_width, input_height),
            flags=cv2.INTER_LINEAR,
        )
        output_size = (input_width // self.down_ratio, input_height // self.down_ratio)
        back = affine_matrix(center, size, output_size, inverse=True)

        def to_image(boxes: Tensor) -> Tensor:
            return apply_affine(boxes, back) / np.float32(scale)

        return PreparedInput(warped, to_image)


def crop_centered(image: np.ndarray, center: Tuple[int, int], size: Tuple[int, int]):
    """
    CornerNet's ``crop_image``: the ``size = (height, width)`` window of ``image`` about
    ``center = (y, x)``, black where it leaves the image, as ``(window, border)``; ``border``
    (float32): the first and one-past-last rows, then columns, that the image fills in the
    window.
    """
    cy, cx = center
    height, width = size
    image_height, image_width = image.shape[:2]
    window = np.zeros((height, width, 3), dtype=image.dtype)
    x0, x1 = max(0, cx - width // 2), min(cx + width // 2, image_width)
    y0, y1 = max(0, cy - height // 2), min(cy + height // 2, image_height)
    left, right, top, bottom = cx - x0, x1 - cx, cy - y0, y1 - cy
    window_cy, window_cx = height // 2, width // 2
    window[window_cy - top : window_cy + bottom, window_cx - left : window_cx + right] = image[
        y0:y1, x0:x1
    ]
    border = np.array(
        [window_cy - top, window_cy + bottom, window_cx - left, window_cx + right],
        dtype=np.float32,
    )
    return window, border


class CornerNetInputTransform:
    """
    CornerNet's ``kp_detection`` input (see the module docstring): the resized image centred in
    a ``(h | pad) x (w | pad)`` canvas, and the way back (``_rescale_dets``: divided by the
    output/input ratio, less the canvas border, clipped to the resized image, divided by the
    scale).
    """

    def __init__(self, *, pad: int = 127, down_ratio: int = 4):
        """
        Args:
            pad: the input sides are ``side | pad`` (odd: the Hourglass's stem turns
                ``128 k - 1`` into ``32 k`` cells).
            down_ratio: the network's output stride.
        """
        self.pad = int(pad)
        self.down_ratio = int(down_ratio)

    def __call__(self, image: np.ndarray, scale: float) -> PreparedInput:
        """``image``: ``[H, W, 3]`` uint8 BGR."""
        height, width = image.shape[:2]
        new_height, new_width = scaled_size(height, width, scale)
        input_height, input_width = new_height | self.pad, new_width | self.pad
        resized = cv2.resize(image, (new_width, new_height))
        window, border = crop_centered(
            resized, (new_height // 2, new_width // 2), (input_height, input_width)
        )
        # float32, as the original stores them.
        ratio_y = np.float32(((input_height + 1) // self.down_ratio) / input_height)
        ratio_x = np.float32(((input_width + 1) // self.down_ratio) / input_width)

        def to_image(boxes: Tensor) -> Tensor:
            xs = ((boxes[:, 0::2] / float(ratio_x)) - float(border[2])).clamp(0, new_width)
            ys = ((boxes[:, 1::2] / float(ratio_y)) - float(border[0])).clamp(0, new_height)
            mapped = torch.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=1)
            return mapped / np.float32(scale)

        return PreparedInput(window, to_image)


def normalized_input(image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Tensor:
    """``[H, W, 3]`` uint8 as ``[3, H, W]`` float32 ``(image / 255 - mean) / std``, computed in
    float64 from the float32 ``mean`` and ``std`` as the originals compute it."""
    return torch.from_numpy(((image / 255.0 - mean) / std).astype(np.float32).transpose(2, 0, 1))


def top_by_threshold(scores: Tensor, k: int) -> Tensor:
    """Indices of the scores at least the ``k``-th largest (all when there are at most ``k``:
    ties at the last place are kept, as the originals' ``np.partition`` threshold keeps them),
    by decreasing score (stable)."""
    order = torch.sort(scores, descending=True, stable=True).indices
    if scores.numel() <= k:
        return order
    return order[scores[order] >= scores[order[k - 1]]]


def merge_original(
    sets: Sequence[Detections],
    *,
    suppress: bool,
    soft_nms: dict,
    max_per_image: int,
) -> Detections:
    """
    The originals' merge of one image's detections of every scale (see the module docstring):
    with ``suppress``, soft-NMS (``batched_soft_nms`` with the keywords ``soft_nms``) class by
    class, as the originals call it (one class's boxes at a time: the pairwise decays of a
    class, not of all the candidates, which can be ten thousand for CornerNet's five scales);
    then :func:`top_by_threshold` ``max_per_image``.
    """
    boxes, scores, classes = concat_detections(sets)
    if suppress:
        suppressed = []
        for cls in classes.unique().tolist():
            index = (classes == cls).nonzero().flatten()
            keep, decayed = batched_soft_nms(
                boxes[index], scores[index], classes[index], **soft_nms
            )
            suppressed.append((index[keep], decayed))
        if suppressed:
            kept = torch.cat([index for index, _ in suppressed])
            scores = torch.cat([decayed for _, decayed in suppressed])
            boxes, classes = boxes[kept], classes[kept]
    keep = top_by_threshold(scores, max_per_image)
    return Detections(boxes[keep], scores[keep], classes[keep])


class OriginalTestPipeline:
    """
    One of the originals' test pipelines (module docstring): an input transform
    (:class:`CenterNetInputTransform` or :class:`CornerNetInputTransform`), the normalization,
    and the merge of the scales. Called by the detector with itself, one image and its
    ``test_scales`` and ``flip_test``.
    """

    def __init__(
        self,
        *,
        input_transform: Callable[[np.ndarray, float], PreparedInput],
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        input_format: str = "BGR",
        soft_nms: Optional[dict] = None,
        suppress_single_scale: bool,
        max_per_image: int = 100,
    ):
        """
        Args:
            input_transform: places a ``[H, W, 3]`` uint8 BGR image, resized by a scale, in the
                network input.
            pixel_mean, pixel_std: of pixels divided by 255, BGR (the originals':
                ``[0.408, 0.447, 0.470]``, ``[0.289, 0.274, 0.278]`` to more places).
            input_format: channel order of the detector's input images, ``"BGR"`` or
                ``"RGB"`` (turned to BGR first).
            soft_nms: keywords of :func:`~.soft_nms.batched_soft_nms` for the merge (default:
                its defaults, the originals' Gaussian soft-NMS with sigma 0.5).
            suppress_single_scale: suppress with one scale too (CornerNet) or only when there
                are several (CenterNet).
            max_per_image: detections kept per image (with ties at the last place).
        """
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}")
        self.input_transform = input_transform
        self.pixel_mean = np.asarray(pixel_mean, dtype=np.float32).reshape(1, 1, 3)
        self.pixel_std = np.asarray(pixel_std, dtype=np.float32).reshape(1, 1, 3)
        self.input_format = input_format
        self.soft_nms = dict(soft_nms or {})
        self.suppress_single_scale = bool(suppress_single_scale)
        self.max_per_image = int(max_per_image)

    def bgr_image(self, image: Tensor) -> np.ndarray:
        """A detector input ``[3, H, W]`` (pixel values 0-255, ``input_format``) as the
        ``[H, W, 3]`` uint8 BGR array the originals read."""
        array = image.detach().to("cpu", torch.uint8).permute(1, 2, 0).numpy()
        if self.input_format == "RGB":
            array = array[:, :, ::-1]
        return np.ascontiguousarray(array)

    def prepare(self, image: np.ndarray, scale: float) -> Tuple[Tensor, PreparedInput]:
        """One scale's normalized ``[3, H_in, W_in]`` network input and its back-mapping."""
        prepared = self.input_transform(image, scale)
        return normalized_input(prepared.image, self.pixel_mean, self.pixel_std), prepared

    @torch.no_grad()
    def __call__(
        self, detector, image: Tensor, test_scales: Sequence[float], flip_test: bool
    ) -> Instances:
        """
        Args:
            detector: has ``device``, ``forward_raw(images, flip=...)`` and
                ``decode_cells(outputs, flip=...)`` (one image's :class:`Detections` in output
                cells).
            image: ``[3, H, W]``, pixel values 0-255 in ``input_format``.

        Returns:
            ``Instances`` of size ``(H, W)``: ``pred_boxes`` in its pixels, ``scores``,
            ``pred_classes``, by decreasing score.
        """
        bgr = self.bgr_image(image)
        found: List[Detections] = []
        for scale in test_scales:
            tensor, prepared = self.prepare(bgr, float(scale))
            batch = ImageList(tensor[None].to(detector.device), [tuple(tensor.shape[-2:])])
            outputs = detector.forward_raw(batch, flip=flip_test)
            # On the CPU: the back-mapping divides as numpy does (a CUDA division by a scalar
            # multiplies by its reciprocal).
            cells = Detections(*(t.cpu() for t in detector.decode_cells(outputs, flip=flip_test)))
            found.append(cells._replace(boxes=prepared.to_image(cells.boxes.float())))
        merged = merge_original(
            found,
            suppress=self.suppress_single_scale or len(found) > 1,
            soft_nms=self.soft_nms,
            max_per_image=self.max_per_image,
        )
        return Instances(
            tuple(bgr.shape[:2]),
            pred_boxes=Boxes(merged.boxes),
            scores=merged.scores,
            pred_classes=merged.classes,
        )
