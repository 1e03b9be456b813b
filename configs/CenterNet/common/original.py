# The original CenterNet's (xingyizhou/CenterNet) test pipeline and training conventions, for
# weights converted from it. A config imports these and applies them to its model and
# dataloader, e.g.
#
#     from .common.original import use_original_conventions, use_original_input, use_original_test
#     use_original_input(model, dataloader)                # what the weights were trained on
#     use_original_test(model, dataloader)                 # DLA-34, ResNet: keep_res, pad 31
#     use_original_test(model, dataloader, pad=127)        # Hourglass-104: keep_res, pad 127
#     use_original_test(model, dataloader, keep_res=False) # the 512 x 512 warp ("fix_res")
#     use_original_conventions(model)                      # to fine-tune as the original
#
# The original's published COCO results are all tested with --keep_res
# (experiments/ctdet_coco_*.sh), hence the default. Then model.flip_test=True and
# model.test_scales=[0.5,0.75,1,1.25,1.5] are its --flip_test and --test_scales. See
# projects/anchorfree/centernet/README.md.
from anchorfree.modeling.original_test import (
    ORIGINAL_COCO_MEAN,
    ORIGINAL_COCO_STD,
    CenterNetInputTransform,
    OriginalTestPipeline,
)
from anchorfree.modeling.soft_nms import ORIGINAL_NMS_PYX

from detectron2.config import LazyCall as L


def use_original_input(model, dataloader):
    """The original's training input: BGR images normalized with its COCO statistics (in the
    0-255 pixels the model receives)."""
    model.pixel_mean = [255 * m for m in ORIGINAL_COCO_MEAN]
    model.pixel_std = [255 * s for s in ORIGINAL_COCO_STD]
    dataloader.train.mapper.image_format = "BGR"


def use_original_test(model, dataloader, *, keep_res=True, pad=31, input_size=512):
    """The original's test path (src/lib/detectors/ctdet.py): the image as it is from the test
    mapper (BGR, no resize), warped to input_size x input_size about its centre or, with
    keep_res, translated into (h | pad) + 1 x (w | pad) + 1 (pad 31; 127 for the Hourglass);
    normalized with the original's statistics; the plain sigmoid; sizes decoded as they are;
    the K = 100 peaks of every scale mapped back, merged with soft-NMS when there are several
    scales (soft_nms(..., Nt=0.5, method=2): Gaussian, sigma 0.5, threshold 0.001), the best
    100."""
    model.test_pipeline = L(OriginalTestPipeline)(
        input_transform=L(CenterNetInputTransform)(
            input_size=None if keep_res else input_size, pad=pad, down_ratio=4
        ),
        pixel_mean=ORIGINAL_COCO_MEAN,
        pixel_std=ORIGINAL_COCO_STD,
        input_format="BGR",
        soft_nms=dict(method="gaussian", sigma=0.5, score_threshold=0.001, **ORIGINAL_NMS_PYX),
        suppress_single_scale=False,
        max_per_image=100,
    )
    model.clamp_test_probs = False
    model.postprocessor.topk = 100
    model.postprocessor.peak_kernel = 3
    model.postprocessor.clamp_sizes = False
    dataloader.test.mapper.augmentations = []
    dataloader.test.mapper.image_format = "BGR"


def use_original_conventions(model):
    """The original's training targets and loss normalizers (src/lib/datasets/sample/ctdet.py,
    src/lib/models/losses.py): radius of the size rounded up, boxes clipped to the last cell,
    every object of a shared centre cell regressed, the focal loss over the number of peaks,
    the L1 losses over both coordinates of the regressed objects."""
    model.target_generator.radius_formula = "published"
    model.target_generator.min_overlap = 0.7
    model.target_generator.radius_from_ceiled_size = True
    model.target_generator.clip_to_last_cell = True
    model.target_generator.same_cell = "all"
    model.heatmap_normalizer = "peaks"
    model.regression_normalizer = "coordinates"
