"""COCO evaluation against the sanitized ground truth, over the images that were run."""

import json

import pytest
import torch

import anchorfree  # noqa: F401
from anchorfree.engine import SanitizedCOCOEvaluator
from anchorfree.engine.evaluation import sanitize_coco_ground_truth

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.evaluation import COCOEvaluator
from detectron2.structures import Boxes, Instances

GOOD = {1: [[10, 10, 20, 20], [40, 5, 15, 30]], 2: [[5, 5, 30, 30]]}  # xywh per image
BAD = [[float("nan"), 4, 10, 10], [30, 30, -12, 10], [70, 4, 10, 10]]  # image 1 is 64 x 48
CLIPPED = [50, 20, 30, 10]  # extends past the right border: scored as [50, 20, 14, 10]


def _register(tmp_path, name):
    images = [{"id": i, "file_name": f"{i}.png", "height": 48, "width": 64} for i in (1, 2)]
    boxes = [(i, b) for i, bs in GOOD.items() for b in bs] + [(1, b) for b in BAD + [CLIPPED]]
    annotations = [
        {"id": k + 1, "image_id": i, "category_id": 1, "bbox": b, "area": 100.0, "iscrowd": 0}
        for k, (i, b) in enumerate(boxes)
    ]
    json_file = tmp_path / f"{name}.json"
    json_file.write_text(
        json.dumps(
            {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "a"}]}
        )
    )
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_coco_instances(name, {}, str(json_file), str(tmp_path))
    DatasetCatalog.get(name)  # sets the category-id mapping that the evaluators read
    return name


def _perfect_predictions(image_id):
    """The valid boxes of ``image_id``, the partly outside one clipped, as a model gives them."""
    xywh = GOOD[image_id] + ([[50, 20, 14, 10]] if image_id == 1 else [])
    instances = Instances((48, 64))
    instances.pred_boxes = Boxes(torch.tensor([[x, y, x + w, y + h] for x, y, w, h in xywh]))
    instances.scores = torch.linspace(0.9, 0.8, len(xywh))
    instances.pred_classes = torch.zeros(len(xywh), dtype=torch.int64)
    return [{"image_id": image_id}], [{"instances": instances}]


def _ap(evaluator, image_ids):
    evaluator.reset()
    for image_id in image_ids:
        evaluator.process(*_perfect_predictions(image_id))
    return evaluator.evaluate()["bbox"]["AP"]


def test_sanitize_coco_ground_truth_drops_and_clips_like_training():
    dataset = {
        "images": [{"id": 1, "height": 48, "width": 64}],
        "annotations": [
            {"id": k, "image_id": 1, "bbox": b, "area": 7.0} for k, b in enumerate(BAD + [CLIPPED])
        ],
    }
    assert sanitize_coco_ground_truth(dataset, "hand") == {"clipped": 1, "dropped": 3}
    (kept,) = dataset["annotations"]
    assert kept["bbox"] == [50.0, 20.0, 14.0, 10.0] and kept["area"] == 140.0


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "official"])
def test_perfect_predictions_score_100_against_the_sanitized_ground_truth(tmp_path, fast):
    name = _register(tmp_path, "af_test_sanitized_gt")
    sanitized = SanitizedCOCOEvaluator(name, use_fast_impl=fast)
    assert _ap(sanitized, [1, 2]) == pytest.approx(100.0)
    # Detectron2's evaluator keeps the boxes that training drops: the same detections lose AP.
    assert _ap(COCOEvaluator(name, use_fast_impl=fast), [1, 2]) < 80.0


def test_only_the_images_that_were_run_are_scored(tmp_path, caplog):
    name = _register(tmp_path, "af_test_images_run")
    assert _ap(SanitizedCOCOEvaluator(name), [2]) == pytest.approx(100.0)
    assert "1 image(s) of the dataset were not" in caplog.text and "ids [1]" in caplog.text
    assert _ap(COCOEvaluator(name), [2]) < 60.0  # image 1's objects counted as missed
