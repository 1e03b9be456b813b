"""
The NumPy COCO evaluation kernels of the ``detectron2._C`` stand-in
(:mod:`anchorfree.compat.cocoeval_kernels`) against pycocotools: Detectron2's ``COCOeval_opt``
running on them must give pycocotools ``COCOeval``'s precision, recall, scores and summary stats.
Where a compiled ``detectron2._C`` is installed, ``COCOeval_opt`` runs on its C++ kernels instead
and the same comparisons hold for them (``COCOEvaluator``'s default path gives pycocotools'
results either way); the matching-semantics test calls our kernels directly, so it runs in both.
"""

import contextlib
import copy
import io
import json
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import anchorfree  # noqa: F401  (installs the detectron2._C stand-in)
from anchorfree.compat import cocoeval_kernels
from anchorfree.compat.import_hook import is_standin_active

from detectron2 import _C
from detectron2.evaluation.fast_eval_api import COCOeval_opt

CATEGORY_IDS = [1, 3, 7, 10, 12]  # 10: detections only; 12: ground truth only


def _random_box(rng: np.random.Generator, width: int, height: int) -> List[float]:
    """An XYWH box whose area spans COCO's small, medium and large ranges."""
    side = float(np.exp(rng.uniform(np.log(4), np.log(300))))
    w = min(side * rng.uniform(0.5, 2.0), width - 1)
    h = min(side * rng.uniform(0.5, 2.0), height - 1)
    return [float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)), w, h]


def _jitter(rng: np.random.Generator, box: List[float], scale: float) -> List[float]:
    x, y, w, h = box
    return [
        x + rng.normal(0, scale * w),
        y + rng.normal(0, scale * h),
        w * float(np.exp(rng.normal(0, scale))),
        h * float(np.exp(rng.normal(0, scale))),
    ]


def make_dataset(seed: int, num_images: int = 14, first_gt_id: int = 1) -> Tuple[Dict, List[Dict]]:
    """A seeded random COCO ground truth (dict) and detections (list of results).

    It has images without ground truth, images without detections, crowd boxes, duplicate
    ground-truth boxes (equal IoUs), scores with ties, an image with more than 100 detections,
    a category with no ground truth and one with no detections.
    """
    rng = np.random.default_rng(seed)
    images = [
        {"id": 100 + i, "width": 640, "height": 480, "file_name": f"{i}.jpg"}
        for i in range(num_images)
    ]
    annotations, detections = [], []
    for index, image in enumerate(images):
        image_gt = []
        num_gt = 0 if index % 5 == 1 else int(rng.integers(1, 9))
        for _ in range(num_gt):
            box = _random_box(rng, 640, 480)
            crowd = int(rng.random() < 0.12)
            copies = 2 if rng.random() < 0.1 else 1
            for _ in range(copies):
                image_gt.append(
                    {
                        "id": first_gt_id + len(annotations),
                        "image_id": image["id"],
                        "category_id": int(rng.choice(CATEGORY_IDS[:3] + CATEGORY_IDS[4:])),
                        "bbox": box,
                        # Areas of segmentations differ from those of boxes.
                        "area": box[2] * box[3] * float(rng.uniform(0.6, 1.0)),
                        "iscrowd": crowd,
                    }
                )
                annotations.append(image_gt[-1])
        if index % 5 == 3:
            continue  # no detections
        for gt in image_gt:
            for _ in range(int(rng.integers(0, 4))):
                category = gt["category_id"]
                if rng.random() < 0.15:
                    category = int(rng.choice(CATEGORY_IDS[:4]))
                detections.append(
                    {
                        "image_id": image["id"],
                        "category_id": category,
                        "bbox": _jitter(rng, gt["bbox"], float(rng.choice([0.02, 0.08, 0.2]))),
                        "score": round(float(rng.uniform(0.3, 1.0)), 1),  # ties
                    }
                )
        num_false = 130 if index == 0 else int(rng.integers(0, 6))
        for _ in range(num_false):
            detections.append(
                {
                    "image_id": image["id"],
                    "category_id": int(rng.choice(CATEGORY_IDS[:4])),
                    "bbox": _random_box(rng, 640, 480),
                    "score": round(float(rng.uniform(0.0, 0.7)), 2),
                }
            )
    categories = [{"id": c, "name": f"class{c}"} for c in CATEGORY_IDS]
    return {"images": images, "annotations": annotations, "categories": categories}, detections


def _coco(dataset: Dict) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(dataset)
        coco.createIndex()
    return coco


def run_eval(
    evaluator_class: type, dataset: Dict, detections: List[Dict], **params: Any
) -> COCOeval:
    """Run ``evaluator_class`` (pycocotools' ``COCOeval`` or ``COCOeval_opt``) up to
    ``summarize()``, with the given ``params`` attributes."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = _coco(dataset)
        evaluator = evaluator_class(gt, gt.loadRes(copy.deepcopy(detections)), "bbox")
        for name, value in params.items():
            setattr(evaluator.params, name, value)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


# Precision is tp / (tp + fp) in Detectron2's kernels (and here), tp / (tp + fp + eps) in
# pycocotools; the two differ only where tp + fp == 1: 1 here, this value in pycocotools.
PYCOCOTOOLS_ONE = 1 / (1 + np.spacing(1))


def assert_same_accumulation(reference: COCOeval, fast: COCOeval) -> None:
    """Equal ``eval`` arrays, exactly, but for pycocotools' 1 - 2.2e-16 for a precision of 1."""
    reference_precision = reference.eval["precision"]
    reference_precision = np.where(reference_precision == PYCOCOTOOLS_ONE, 1.0, reference_precision)
    np.testing.assert_array_equal(fast.eval["precision"], reference_precision)
    np.testing.assert_array_equal(fast.eval["recall"], reference.eval["recall"])
    np.testing.assert_array_equal(fast.eval["scores"], reference.eval["scores"])


def assert_same_evaluation(reference: COCOeval, fast: COCOeval) -> None:
    assert_same_accumulation(reference, fast)
    np.testing.assert_allclose(fast.stats, reference.stats, rtol=0, atol=1e-12)


@pytest.mark.skipif(
    not is_standin_active(),
    reason="a compiled detectron2._C is installed; its own kernels are in use, not the stand-in's",
)
def test_stand_in_provides_the_kernels():
    assert getattr(_C, "IS_ANCHORFREE_STANDIN", False)
    assert _C.COCOevalEvaluateImages is cocoeval_kernels.COCOevalEvaluateImages
    assert _C.COCOevalAccumulate is cocoeval_kernels.COCOevalAccumulate
    assert _C.InstanceAnnotation is cocoeval_kernels.InstanceAnnotation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pycocotools(seed):
    dataset, detections = make_dataset(seed)
    reference = run_eval(COCOeval, dataset, detections)
    fast = run_eval(COCOeval_opt, dataset, detections)
    assert reference.stats[0] > 0.05  # a non-trivial evaluation
    assert (reference.eval["precision"] == -1).any()  # category 10 has no ground truth
    assert_same_evaluation(reference, fast)
    assert fast.eval["counts"] == [10, 101, len(CATEGORY_IDS), 4, 3]


def test_matches_pycocotools_without_categories():
    dataset, detections = make_dataset(3)
    reference = run_eval(COCOeval, dataset, detections, useCats=0)
    fast = run_eval(COCOeval_opt, dataset, detections, useCats=0)
    assert fast.eval["precision"].shape == (10, 101, 1, 4, 3)
    assert_same_evaluation(reference, fast)


def test_matches_pycocotools_with_custom_params():
    """maxDets below the detections per image (the cut in evaluate matters) and other ranges."""
    dataset, detections = make_dataset(4)
    params = dict(
        maxDets=[2, 5, 20],
        areaRng=[[0, 1e10], [0, 50**2], [50**2, 1e10]],
        areaRngLbl=["all", "small", "large"],
        iouThrs=np.array([0.3, 0.5, 0.75]),
        recThrs=np.linspace(0, 1, 11),
    )
    reference = run_eval(COCOeval, dataset, detections, **params)
    fast = run_eval(COCOeval_opt, dataset, detections, **params)
    assert fast.eval["precision"].shape == (3, 11, len(CATEGORY_IDS), 3, 3)
    assert_same_accumulation(reference, fast)


def test_matches_pycocotools_with_ground_truth_id_zero():
    """A match to ground truth of id 0 counts as no match, in both implementations."""
    dataset, detections = make_dataset(5, first_gt_id=0)
    reference = run_eval(COCOeval, dataset, detections)
    assert_same_evaluation(reference, run_eval(COCOeval_opt, dataset, detections))


def test_no_detections_at_all():
    dataset, _ = make_dataset(6, num_images=3)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = _coco(dataset)
        evaluators = []
        for evaluator_class in (COCOeval, COCOeval_opt):
            # loadRes refuses an empty list; a result set without annotations is what it would give.
            dt = _coco({**dataset, "annotations": []})
            evaluator = evaluator_class(gt, dt, "bbox")
            evaluator.evaluate()
            evaluator.accumulate()
            evaluators.append(evaluator)
    reference, fast = evaluators
    assert_same_accumulation(reference, fast)
    regular = [a["category_id"] for a in dataset["annotations"] if not a["iscrowd"]]
    has_gt = np.isin(CATEGORY_IDS, regular)
    recall_all_areas = fast.eval["recall"][:, :, 0, :]  # (T, K, M)
    assert (recall_all_areas == np.where(has_gt, 0.0, -1.0)[None, :, None]).all()


def test_greedy_matching_semantics():
    """One image, one category, one area range, thresholds 0.5 and 0.8; ground truth 0 regular,
    1 crowd (ignored), 2 regular and out of the area range (ignored). Our kernels, called
    directly: their result type is theirs, not the compiled extension's."""
    gt = [
        cocoeval_kernels.InstanceAnnotation(1, 0.0, 100.0, False, False),
        cocoeval_kernels.InstanceAnnotation(2, 0.0, 100.0, True, True),
        cocoeval_kernels.InstanceAnnotation(3, 0.0, 5000.0, False, False),
    ]
    dt = [  # in input order; ranked by score: 11, 12, 13, 14 (13 and 14 tie: input order)
        cocoeval_kernels.InstanceAnnotation(12, 0.8, 100.0, False, False),
        cocoeval_kernels.InstanceAnnotation(11, 0.9, 100.0, False, False),
        cocoeval_kernels.InstanceAnnotation(13, 0.5, 100.0, False, False),
        cocoeval_kernels.InstanceAnnotation(14, 0.5, 5000.0, False, False),
    ]
    ious = np.array(
        [  # rows in rank order
            [0.6, 0.9, 0.0],  # 11: prefers regular 0 to the better crowd 1; at 0.8 only 1 is left
            [0.9, 0.7, 0.0],  # 12: at 0.5, 0 is taken and crowd 1 matches again; at 0.8 takes 0
            [0.0, 0.6, 0.0],  # 13: crowd 1 at 0.5; nothing at 0.8, so a false positive
            [0.0, 0.0, 0.85],  # 14: matches 2, out of the range, so it is ignored
        ]
    )
    result = cocoeval_kernels.COCOevalEvaluateImages(
        [[0, 1000]], 100, [0.5, 0.8], [[ious]], [[gt]], [[dt]]
    )
    assert result.num_gt.tolist() == [[1]]
    np.testing.assert_array_equal(result.score, [0.9, 0.8, 0.5, 0.5])
    np.testing.assert_array_equal(result.true_positive[0], [[1, 0, 0, 0], [0, 1, 0, 0]])
    np.testing.assert_array_equal(result.false_positive[0], [[0, 0, 0, 0], [0, 0, 1, 0]])


def test_coco_evaluator_default_arguments(tmp_path):
    """Detectron2's COCOEvaluator, with its default use_fast_impl=True, on perfect predictions."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import register_coco_instances
    from detectron2.evaluation import COCOEvaluator
    from detectron2.structures import Boxes, BoxMode, Instances

    dataset, _ = make_dataset(7, num_images=6)
    dataset["annotations"] = [a for a in dataset["annotations"] if not a["iscrowd"]]
    json_file = tmp_path / "gt.json"
    json_file.write_text(json.dumps(dataset))
    name = "anchorfree_test_cocoeval_kernels"
    register_coco_instances(name, {}, str(json_file), str(tmp_path))
    try:
        records = DatasetCatalog.get(name)  # also sets the category id mapping of the metadata
        evaluator = COCOEvaluator(name)
        evaluator.reset()
        for record in records:
            annotations = record["annotations"]
            boxes = [
                BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations
            ]
            instances = Instances((record["height"], record["width"]))
            instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
            instances.scores = torch.linspace(1.0, 0.5, len(boxes))
            classes = [a["category_id"] for a in annotations]
            instances.pred_classes = torch.tensor(classes, dtype=torch.int64)
            evaluator.process([{"image_id": record["image_id"]}], [{"instances": instances}])
        with contextlib.redirect_stdout(io.StringIO()):
            results = evaluator.evaluate()
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    assert results["bbox"]["AP"] == pytest.approx(100.0)
    assert results["bbox"]["AP50"] == pytest.approx(100.0)
