"""
Loading Detectron2 dataset dicts with input validation.

:func:`load_detection_dataset_dicts` wraps Detectron2's ``get_detection_dataset_dicts`` and
makes bad annotations visible instead of letting them reach the model: boxes partly outside the
image are clipped to it, degenerate or non-finite boxes (and boxes entirely outside) are dropped,
each counted in the log; missing image files are reported up front with a clear error.
"""

import logging
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from detectron2.data import get_detection_dataset_dicts
from detectron2.structures import BoxMode

logger = logging.getLogger(__name__)

__all__ = ["load_detection_dataset_dicts", "sanitize_boxes", "sanitized_xyxy"]

# How many offending file names an error message lists.
MAX_LISTED_FILES = 5


def sanitized_xyxy(
    box: Sequence[float], width: Optional[float], height: Optional[float]
) -> Optional[Tuple[Tuple[float, ...], bool]]:
    """
    The one rule for annotation boxes, shared by training and evaluation: an ``XYXY_ABS`` box
    clipped to its ``width`` x ``height`` image, or ``None`` when it must be dropped (a
    coordinate is not finite, or after clipping its width or height is not positive, which also
    covers boxes entirely outside the image). Without an image size boxes are only checked.

    Returns:
        ``(box, was_clipped)`` or ``None``.
    """
    if not all(math.isfinite(v) for v in box):
        return None
    x0, y0, x1, y1 = (float(v) for v in box)
    if width is not None and height is not None:
        x0, x1 = (min(max(v, 0.0), width) for v in (x0, x1))
        y0, y1 = (min(max(v, 0.0), height) for v in (y0, y1))
    if x1 <= x0 or y1 <= y0:
        return None
    clipped = (x0, y0, x1, y1)
    return clipped, clipped != tuple(float(v) for v in box)


def sanitize_boxes(dataset_dicts: List[Dict], dataset_name: str = "") -> List[Dict]:
    """
    Clip every annotation box to its image and drop degenerate ones (:func:`sanitized_xyxy`),
    in place of the records.

    Boxes are read in their ``bbox_mode`` and written back in ``BoxMode.XYXY_ABS``. Records
    need ``height`` and ``width`` (COCO-format records have them); without them boxes are only
    checked, not clipped.

    Returns:
        the same list, with each record's ``annotations`` filtered.
    """
    num_clipped = num_dropped = 0
    for record in dataset_dicts:
        annotations = record.get("annotations")
        if not annotations:
            continue
        kept = []
        for ann in annotations:
            box = BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYXY_ABS)
            checked = sanitized_xyxy(box, record.get("width"), record.get("height"))
            if checked is None:
                num_dropped += 1
                continue
            box, was_clipped = checked
            num_clipped += was_clipped
            kept.append(dict(ann, bbox=list(box), bbox_mode=BoxMode.XYXY_ABS))
        record["annotations"] = kept
    if num_clipped or num_dropped:
        logger.warning(
            f"Dataset {dataset_name}: clipped {num_clipped} box(es) extending outside their "
            f"image; dropped {num_dropped} degenerate, non-finite or fully outside box(es)."
        )
    return dataset_dicts


def _check_image_files_exist(dataset_dicts: List[Dict], dataset_name: str) -> None:
    missing = [r["file_name"] for r in dataset_dicts if not os.path.isfile(r["file_name"])]
    if missing:
        listed = ", ".join(missing[:MAX_LISTED_FILES])
        raise FileNotFoundError(
            f"Dataset {dataset_name}: {len(missing)} of {len(dataset_dicts)} image files do not "
            f"exist (first: {listed}). Check the dataset's image root."
        )


def load_detection_dataset_dicts(
    names: Union[str, Sequence[str]], filter_empty: bool = True
) -> List[Dict]:
    """
    Like ``detectron2.data.get_detection_dataset_dicts``, with the checks described in the
    module docstring. ``filter_empty`` drops images that have no annotation left *after*
    degenerate boxes are removed.
    """
    if isinstance(names, str):
        names = [names]
    dataset_name = ",".join(names)
    dicts = get_detection_dataset_dicts(list(names), filter_empty=False)
    _check_image_files_exist(dicts, dataset_name)
    sanitize_boxes(dicts, dataset_name)
    if filter_empty:
        num_before = len(dicts)
        dicts = [
            r for r in dicts if any(ann.get("iscrowd", 0) == 0 for ann in r.get("annotations", []))
        ]
        logger.info(
            f"Dataset {dataset_name}: removed {num_before - len(dicts)} image(s) without "
            f"usable annotations; {len(dicts)} left."
        )
    if not dicts:
        raise ValueError(f"Dataset {dataset_name} has no images to use.")
    return dicts
