"""
The detectors that tools/train_accuracy.py and the cost suites of tools/benchmark.py compare,
each by its CPU-sized config on the embedded dataset (same backbone family, input, data and training
budget: configs/common/shapes_cpu_budget.py).
"""

import os
from dataclasses import dataclass
from typing import List, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class Detector:
    name: str  # as printed in tables
    slug: str  # file and directory names
    config: str  # relative to the repository root
    anchor_free: bool
    implementation: str  # "Detectron2" or "anchorfree-d2"
    # The detection-specific settings a user may have to tune for a new dataset (backbone,
    # optimizer and schedule aside), for the anchor-based against anchor-free comparison.
    hyperparameters: Tuple[str, ...]

    @property
    def config_path(self) -> str:
        return os.path.join(REPO, self.config)


RETINANET_SETTINGS = (
    "anchor sizes",
    "anchor aspect ratios",
    "anchor scales per octave",
    "IoU thresholds (foreground, background)",
    "low-quality matches",
    "focal alpha, gamma",
    "box regression weights",
    "smooth-L1 beta",
    "score threshold",
    "top-k candidates",
    "NMS threshold",
)
FCOS_SETTINGS = (
    "size ranges per level",
    "center sampling radius",
    "focal alpha, gamma",
    "box loss",
    "score threshold",
    "top-k candidates",
    "NMS threshold",
)
CENTERNET_SETTINGS = (
    "Gaussian radius (formula, minimum overlap)",
    "focal alpha, beta",
    "size loss weight",
    "top-K",
)
CORNERNET_SETTINGS = (
    "Gaussian radius (formula, minimum overlap)",
    "focal alpha, beta",
    "pull, push weights",
    "top-K per corner",
    "embedding distance threshold",
    "soft-NMS method, sigma, threshold",
)

DETECTORS: Sequence[Detector] = (
    Detector(
        "RetinaNet",
        "retinanet_d2",
        "configs/baselines/retinanet_R_18_FPN_shapes.py",
        False,
        "Detectron2",
        RETINANET_SETTINGS,
    ),
    Detector(
        "FCOS (Detectron2)",
        "fcos_d2",
        "configs/baselines/fcos_R_18_FPN_shapes.py",
        True,
        "Detectron2",
        FCOS_SETTINGS,
    ),
    Detector(
        "FCOS", "fcos", "configs/FCOS/fcos_R_18_FPN_shapes.py", True, "anchorfree-d2", FCOS_SETTINGS
    ),
    Detector(
        "CenterNet",
        "centernet",
        "configs/CenterNet/centernet_R_18_shapes.py",
        True,
        "anchorfree-d2",
        CENTERNET_SETTINGS,
    ),
    Detector(
        "CornerNet",
        "cornernet",
        "configs/CornerNet/cornernet_hourglass_small_shapes.py",
        True,
        "anchorfree-d2",
        CORNERNET_SETTINGS,
    ),
)


def select(slugs: Sequence[str]) -> List[Detector]:
    """The detectors named by ``slugs`` (all when empty), in table order."""
    known = {d.slug: d for d in DETECTORS}
    unknown = [s for s in slugs if s not in known]
    if unknown:
        raise SystemExit(f"Unknown detector(s) {unknown}; choose from {sorted(known)}")
    return [d for d in DETECTORS if not slugs or d.slug in slugs]
