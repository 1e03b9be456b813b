"""
COCO evaluation against the ground truth that training sees.

Detectron2's ``COCOEvaluator`` reads the raw annotation json, so boxes that the data loading
drops (non-finite, negative-width, entirely outside the image; see
:func:`anchorfree.data.dataset_dicts.sanitized_xyxy`) would stay in the ground truth as objects
no detector can find, and boxes partly outside the image would be scored unclipped: both lower
recall and AP silently. :class:`SanitizedCOCOEvaluator` applies the same rule to its ground
truth, and evaluates only the images that were run (an unreadable image skipped by
``anchorfree.data.UnreadableImageFilter`` is reported, not scored as missed).
"""

import contextlib
import io
import logging
from typing import Dict, List, Optional

from anchorfree.data.dataset_dicts import sanitized_xyxy

from detectron2.evaluation import COCOEvaluator

__all__ = ["SanitizedCOCOEvaluator", "sanitize_coco_ground_truth"]

logger = logging.getLogger(__name__)


def sanitize_coco_ground_truth(dataset: Dict, dataset_name: str = "") -> Dict[str, int]:
    """
    Apply the training rule to the annotations of a COCO-format ``dataset`` dict in place:
    each box clipped to its image (its ``area`` then becomes the clipped box's, unless the
    annotation has a segmentation) or the annotation removed. Returns the counts
    ``{"clipped": n, "dropped": m}``.
    """
    sizes = {image["id"]: (image.get("width"), image.get("height")) for image in dataset["images"]}
    kept, counts = [], {"clipped": 0, "dropped": 0}
    for ann in dataset.get("annotations", []):
        x, y, w, h = ann["bbox"]
        width, height = sizes.get(ann["image_id"], (None, None))
        checked = sanitized_xyxy((x, y, x + w, y + h), width, height)
        if checked is None:
            counts["dropped"] += 1
            continue
        (x0, y0, x1, y1), was_clipped = checked
        if was_clipped:
            counts["clipped"] += 1
            ann = dict(ann, bbox=[x0, y0, x1 - x0, y1 - y0])
            if not ann.get("segmentation"):
                ann["area"] = (x1 - x0) * (y1 - y0)
        kept.append(ann)
    dataset["annotations"] = kept
    if counts["clipped"] or counts["dropped"]:
        logger.warning(
            f"Evaluation ground truth of {dataset_name}: clipped {counts['clipped']} box(es) "
            f"extending outside their image; dropped {counts['dropped']} degenerate, non-finite "
            "or fully outside box(es), as the training data loading does."
        )
    return counts


class SanitizedCOCOEvaluator(COCOEvaluator):
    """
    ``COCOEvaluator`` (same arguments) whose ground truth is sanitized as the module doc says,
    and which scores only the images it was given predictions for.
    """

    def __init__(self, dataset_name: str, *args, **kwargs):
        super().__init__(dataset_name, *args, **kwargs)
        if self._do_evaluation:
            sanitize_coco_ground_truth(self._coco_api.dataset, dataset_name)
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
                self._coco_api.createIndex()

    def _eval_predictions(self, predictions: List[Dict], img_ids: Optional[List[int]] = None):
        if img_ids is None and self._do_evaluation:
            run = {p["image_id"] for p in predictions}
            not_run = set(self._coco_api.getImgIds()) - run
            if not_run:
                logger.warning(
                    f"COCO evaluation over the {len(run)} images that were run; "
                    f"{len(not_run)} image(s) of the dataset were not (e.g. unreadable): "
                    f"ids {sorted(not_run)[:10]}{' ...' if len(not_run) > 10 else ''}."
                )
                img_ids = sorted(run)
        super()._eval_predictions(predictions, img_ids=img_ids)
