"""Statistics of a COCO instances dict (:func:`dataset_statistics`) and their human-readable
lines (:func:`format_statistics`)."""

import math
from typing import Any, Dict, List

import numpy as np

# COCO's size buckets (areas in px^2, for COCO's typical 640x480 images). Statistics report
# them both as-is (what COCOEvaluator's APs/APm/APl use) and scaled by image area.
COCO_SMALL_AREA = 32.0**2
COCO_MEDIUM_AREA = 96.0**2
COCO_REFERENCE_IMAGE_AREA = 640.0 * 480.0


def _bucket(area: float, small: float, medium: float) -> str:
    return "small" if area < small else "medium" if area < medium else "large"


def dataset_statistics(coco: Dict[str, Any]) -> Dict[str, Any]:
    """
    Statistics of a COCO instances dict: counts per class, COCO size buckets (absolute, as
    COCOEvaluator uses them, and scaled by image area relative to a 640x480 COCO image), box
    side and aspect-ratio (w/h) ranges, objects per image, images with overlapping boxes.
    """
    images = {im["id"]: im for im in coco["images"]}
    names = {c["id"]: c["name"] for c in coco["categories"]}
    per_class = {name: 0 for name in names.values()}
    buckets_abs = {"small": 0, "medium": 0, "large": 0}
    buckets_scaled = dict(buckets_abs)
    per_image: Dict[int, List[List[float]]] = {i: [] for i in images}
    sides, aspects = [], []
    max_side_frac = 0.0
    for ann in coco["annotations"]:
        image = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        per_class[names[ann["category_id"]]] += 1
        per_image[ann["image_id"]].append([x, y, x + w, y + h])
        buckets_abs[_bucket(ann["area"], COCO_SMALL_AREA, COCO_MEDIUM_AREA)] += 1
        scale = image["height"] * image["width"] / COCO_REFERENCE_IMAGE_AREA
        buckets_scaled[_bucket(ann["area"], COCO_SMALL_AREA * scale, COCO_MEDIUM_AREA * scale)] += 1
        sides += [w, h]
        aspects.append(w / h)
        max_side_frac = max(max_side_frac, w / image["width"], h / image["height"])
    counts = [len(boxes) for boxes in per_image.values()]
    overlapping = 0
    for boxes in per_image.values():
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        iw = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
        ih = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
        overlap = (iw > 0) & (ih > 0)
        np.fill_diagonal(overlap, False)
        overlapping += int(overlap.any())
    heights = [im["height"] for im in images.values()]
    widths = [im["width"] for im in images.values()]
    return {
        "num_images": len(images),
        "num_instances": len(coco["annotations"]),
        "instances_per_class": per_class,
        "size_buckets_scaled": buckets_scaled,
        "size_buckets_coco_absolute": buckets_abs,
        "box_side_range": [min(sides, default=0.0), max(sides, default=0.0)],
        "max_box_side_frac_of_image": max_side_frac,
        "aspect_ratio_range": [min(aspects, default=0.0), max(aspects, default=0.0)],
        "objects_per_image": {
            "min": min(counts, default=0),
            "max": max(counts, default=0),
            "mean": float(np.mean(counts)) if counts else 0.0,
        },
        "images_with_0_objects": sum(c == 0 for c in counts),
        "images_with_20_or_more_objects": sum(c >= 20 for c in counts),
        "images_with_overlapping_boxes": overlapping,
        "image_height_range": [min(heights, default=0), max(heights, default=0)],
        "image_width_range": [min(widths, default=0), max(widths, default=0)],
    }


def format_statistics(stats: Dict[str, Any]) -> str:
    """Human-readable lines of :func:`dataset_statistics`."""
    lines = [
        f"  images: {stats['num_images']} "
        f"(height {stats['image_height_range']}, width {stats['image_width_range']}), "
        f"instances: {stats['num_instances']}",
        "  instances per class: "
        + ", ".join(f"{k} {v}" for k, v in stats["instances_per_class"].items()),
    ]
    for key, label in (
        ("size_buckets_scaled", "sizes (COCO thresholds scaled to image area)"),
        ("size_buckets_coco_absolute", "sizes (COCO absolute thresholds)"),
    ):
        total = max(1, stats["num_instances"])
        lines.append(
            f"  {label}: "
            + ", ".join(f"{k} {v} ({100.0 * v / total:.0f}%)" for k, v in stats[key].items())
        )
    lo, hi = stats["box_side_range"]
    lines.append(
        f"  box sides: {lo:.0f}..{hi:.0f} px "
        f"(max {stats['max_box_side_frac_of_image']:.2f} of the image side)"
    )
    lo, hi = stats["aspect_ratio_range"]
    lines.append(
        f"  aspect ratio w/h: {lo:.3f}..{hi:.3f} "
        f"(1:{1.0 / lo if lo > 0 else math.inf:.2f} .. {hi:.2f}:1)"
    )
    opi = stats["objects_per_image"]
    lines.append(
        f"  objects per image: min {opi['min']}, max {opi['max']}, mean {opi['mean']:.1f};"
        f" images with 0: {stats['images_with_0_objects']}, with >= 20: "
        f"{stats['images_with_20_or_more_objects']}, with overlapping boxes: "
        f"{stats['images_with_overlapping_boxes']}"
    )
    return "\n".join(lines)
