"""
The five detectors that tools/train_accuracy.py (time to accuracy) and the cost suites of
tools/benchmark.py compare (``DETECTORS``), each by its CPU-sized config on the embedded dataset:
the same backbone family (a quarter-width ResNet-18 with FPN P3-P7 for RetinaNet and both FCOS,
FPN P2 for CenterNet and CornerNet, 64 channels), input, data and recipe
(configs/common/shapes_accuracy.py); ``ACCURACY_DETECTORS`` adds the ablations that the
time-to-accuracy comparison trains too.
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
        "configs/baselines/retinanet_narrow_FPN_shapes.py",
        False,
        "Detectron2",
        RETINANET_SETTINGS,
    ),
    Detector(
        "FCOS (Detectron2)",
        "fcos_d2",
        "configs/baselines/fcos_narrow_FPN_shapes.py",
        True,
        "Detectron2",
        FCOS_SETTINGS,
    ),
    Detector(
        "FCOS",
        "fcos",
        "configs/FCOS/fcos_narrow_FPN_shapes.py",
        True,
        "anchorfree-d2",
        FCOS_SETTINGS,
    ),
    Detector(
        "CenterNet",
        "centernet",
        "configs/CenterNet/centernet_narrow_FPN_P2_shapes.py",
        True,
        "anchorfree-d2",
        CENTERNET_SETTINGS,
    ),
    Detector(
        "CornerNet",
        "cornernet",
        "configs/CornerNet/cornernet_narrow_FPN_P2_shapes.py",
        True,
        "anchorfree-d2",
        CORNERNET_SETTINGS,
    ),
)


ACCURACY_DETECTORS: Sequence[Detector] = tuple(DETECTORS) + (
    # The box loss ablation: averaged over positives (as Detectron2's FCOS), not weighted by
    # centerness.
    Detector(
        "FCOS, box loss not centerness-weighted",
        "fcos_unweighted_box_loss",
        "configs/FCOS/fcos_narrow_FPN_shapes_unweighted_box_loss.py",
        True,
        "anchorfree-d2",
        FCOS_SETTINGS,
    ),
    # The loss normalizer ablation: a moving average over iterations (as Detectron2's FCOS).
    Detector(
        "FCOS, moving-average loss normalizer",
        "fcos_ema_loss_normalizer",
        "configs/FCOS/fcos_narrow_FPN_shapes_ema_loss_normalizer.py",
        True,
        "anchorfree-d2",
        FCOS_SETTINGS,
    ),
    # The regression ablation: no learnable scale per level (as Detectron2's FCOS).
    Detector(
        "FCOS, no per-level scale",
        "fcos_no_scale",
        "configs/FCOS/fcos_narrow_FPN_shapes_no_scale.py",
        True,
        "anchorfree-d2",
        FCOS_SETTINGS,
    ),
    # The points ablation: at the cells' top-left corners (as Detectron2's FCOS).
    Detector(
        "FCOS, points at cell corners",
        "fcos_points_at_corners",
        "configs/FCOS/fcos_narrow_FPN_shapes_points_at_corners.py",
        True,
        "anchorfree-d2",
        FCOS_SETTINGS,
    ),
    # The neck ablation: the paper's upsampling neck (res5 only, no skips) instead of FPN P2.
    Detector(
        "CenterNet, upsampling neck",
        "centernet_upsampling",
        "configs/CenterNet/centernet_narrow_upsampling_shapes.py",
        True,
        "anchorfree-d2",
        CENTERNET_SETTINGS,
    ),
)


def select(slugs: Sequence[str], detectors: Sequence[Detector] = DETECTORS) -> List[Detector]:
    """The ``detectors`` named by ``slugs`` (all when empty), in table order."""
    known = {d.slug: d for d in detectors}
    unknown = [s for s in slugs if s not in known]
    if unknown:
        raise SystemExit(f"Unknown detector(s) {unknown}; choose from {sorted(known)}")
    return [d for d in detectors if not slugs or d.slug in slugs]


# Ablations that change only the loss, the targets or a scalar multiply train at the speed of
# the network they ablate: they take its measured throughput (and so its budget in iterations).
SAME_SPEED_AS = {
    "fcos_unweighted_box_loss": "fcos",
    "fcos_ema_loss_normalizer": "fcos",
    "fcos_no_scale": "fcos",
    "fcos_points_at_corners": "fcos",
}


def trained_weights(accuracy_dir: str, slug: str, seed: int = 1) -> str:
    """Where tools/train_accuracy.py leaves a detector's final model of ``seed``."""
    return os.path.join(run_dir(accuracy_dir, slug, seed), "model_final.pth")


def run_dir(accuracy_dir: str, slug: str, seed: int) -> str:
    """The output directory of one training run of tools/train_accuracy.py."""
    return os.path.join(accuracy_dir, slug, f"seed{seed}")
