# The original CornerNet's (princeton-vl/CornerNet) test pipeline and conventions, for weights
# converted from it. A config imports these and applies them to its model and dataloader, e.g.
#
#     from .common.original import use_original_conventions, use_original_input, use_original_test
#     use_original_input(model, dataloader)                   # what the weights were trained on
#     use_original_test(model, dataloader)                    # config/CornerNet.json
#     use_original_test(model, dataloader, multi_scale=True)  # its test_scales of
#                                                             # CornerNet-multi_scale.json
#     use_original_conventions(model)                         # to fine-tune as the original
#
# Each switch is documented where it is defined; the table is in
# projects/anchorfree/cornernet/README.md ("Conventions").
from anchorfree.modeling.original_test import (
    ORIGINAL_COCO_MEAN,
    ORIGINAL_COCO_STD,
    CornerNetInputTransform,
    OriginalTestPipeline,
)
from anchorfree.modeling.soft_nms import ORIGINAL_NMS_PYX

from detectron2.config import LazyCall as L

MULTI_SCALE = [0.5, 0.75, 1, 1.25, 1.5]


def use_original_input(model, dataloader):
    """The original's training input: BGR images normalized with its COCO statistics (in the
    0-255 pixels the model receives)."""
    model.pixel_mean = [255 * m for m in ORIGINAL_COCO_MEAN]
    model.pixel_std = [255 * s for s in ORIGINAL_COCO_STD]
    dataloader.train.mapper.image_format = "BGR"


def use_original_test(model, dataloader, *, multi_scale=False):
    """The original's kp_detection (test/coco.py): the image as it is from the test mapper
    (BGR, no resize), at each scale resized and centred in a (h | 127) x (w | 127) canvas,
    normalized with the original's statistics, run with its mirror image; the plain sigmoid,
    top 100 corners, embedding threshold 0.5, 1000 pairs per image; the pairs of the mirror
    image mapped back by x -> W - x in output cells, every pair mapped back to the image
    (ratio, border, clipped to the scaled image, divided by the scale); per class Gaussian
    soft-NMS (its nms_algorithm "exp_soft_nms", Nt 0.5, sigma 0.5, threshold 0.001), the best
    100 over all classes."""
    model.test_pipeline = L(OriginalTestPipeline)(
        input_transform=L(CornerNetInputTransform)(pad=127, down_ratio=4),
        pixel_mean=ORIGINAL_COCO_MEAN,
        pixel_std=ORIGINAL_COCO_STD,
        input_format="BGR",
        soft_nms=dict(
            method="gaussian",
            sigma=0.5,
            iou_threshold=0.5,
            score_threshold=0.001,
            **ORIGINAL_NMS_PYX,
        ),
        suppress_single_scale=True,
        max_per_image=100,
    )
    model.flip_test = True
    model.test_scales = MULTI_SCALE if multi_scale else [1]
    model.clamp_test_probs = False
    model.postprocessor.topk = 100
    model.postprocessor.peak_kernel = 3
    model.postprocessor.embedding_thresh = 0.5
    model.postprocessor.max_candidates = 1000
    model.postprocessor.keep_zero_size_boxes = True
    dataloader.test.mapper.augmentations = []
    dataloader.test.mapper.image_format = "BGR"


def use_original_conventions(model):
    """Set the original code's conventions on a CornerNet model config (``LazyCall`` of
    ``CornerNet``), in place; returns it."""
    # Test time (kp_utils.py _decode, test/coco.py, external/nms.pyx soft_nms), for the
    # model's own test path; use_original_test sets the same.
    model.clamp_test_probs = False
    model.postprocessor.keep_zero_size_boxes = True
    for key, value in ORIGINAL_NMS_PYX.items():
        setattr(model.postprocessor, f"soft_nms_{key}", value)
    # Training (sample/coco.py kp_detection, kp_utils.py _ae_loss).
    model.target_generator.radius_from_ceiled_size = True
    model.embedding_loss_reduction = "sum"
    return model
