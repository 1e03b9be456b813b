# The conventions of the original CornerNet code (princeton-vl/CornerNet) where this project's
# defaults differ, for models converted from its checkpoints: a leaf config applies them with
#
#     from .common.original_conventions import use_original_conventions
#     use_original_conventions(model)
#
# Each switch is documented where it is defined; the table is in
# projects/anchorfree/cornernet/README.md ("Conventions").


def use_original_conventions(model):
    """Set the original code's conventions on a CornerNet model config (``LazyCall`` of
    ``CornerNet``), in place; returns it."""
    # Test time (kp_utils.py _decode, test/coco.py, external/nms.pyx soft_nms).
    model.clamp_test_probs = False
    model.postprocessor.keep_zero_size_boxes = True
    model.postprocessor.soft_nms_legacy_plus_one = True
    model.postprocessor.soft_nms_strict_linear_threshold = True
    model.postprocessor.soft_nms_discard_overlapping_only = True
    # Training (sample/coco.py kp_detection, kp_utils.py _ae_loss).
    model.target_generator.radius_from_ceiled_size = True
    model.embedding_loss_reduction = "sum"
    return model
