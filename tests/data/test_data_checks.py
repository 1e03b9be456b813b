"""Bad dataset input: degenerate/outside boxes, empty images, missing and corrupt files,
grayscale/RGBA images."""

import json
import logging

import cv2
import numpy as np
import pytest

import anchorfree  # noqa: F401
from anchorfree.data import (
    CheckedDatasetMapper,
    ImageReadError,
    UnreadableImageFilter,
    load_detection_dataset_dicts,
)
from anchorfree.data.dataset_dicts import sanitize_boxes
from anchorfree.data.mapper import is_unreadable_marker

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.structures import BoxMode

IMAGE_H, IMAGE_W = 40, 60


def _write_coco(tmp_path, name, images, annotations):
    for image in images:
        path = tmp_path / image["file_name"]
        if not path.exists():
            cv2.imwrite(str(path), np.full((IMAGE_H, IMAGE_W, 3), 127, np.uint8))
    json_file = tmp_path / f"{name}.json"
    json_file.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": 1, "name": "thing"}],
            }
        )
    )
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_coco_instances(name, {}, str(json_file), str(tmp_path))


def _image(i):
    return {"id": i, "file_name": f"{i}.png", "height": IMAGE_H, "width": IMAGE_W}


def _ann(i, image_id, bbox):
    return {
        "id": i,
        "image_id": image_id,
        "category_id": 1,
        "bbox": bbox,
        "area": 1.0,
        "iscrowd": 0,
    }


def test_sanitize_boxes_clips_and_drops(caplog):
    record = {
        "height": 40,
        "width": 60,
        "annotations": [
            {"bbox": [10, 10, 20, 20], "bbox_mode": BoxMode.XYWH_ABS},  # fine
            {"bbox": [-5, 30, 20, 20], "bbox_mode": BoxMode.XYWH_ABS},  # partly outside: clipped
            {"bbox": [10, 10, 0, 5], "bbox_mode": BoxMode.XYWH_ABS},  # zero width: dropped
            {"bbox": [70, 10, 5, 5], "bbox_mode": BoxMode.XYWH_ABS},  # entirely outside: dropped
            {"bbox": [float("nan"), 1, 2, 2], "bbox_mode": BoxMode.XYWH_ABS},  # NaN: dropped
            {"bbox": [30, 20, 10, 10], "bbox_mode": BoxMode.XYXY_ABS},  # x1 < x0: dropped
        ],
    }
    with caplog.at_level(logging.WARNING):
        (out,) = sanitize_boxes([record], "hand")
    boxes = [a["bbox"] for a in out["annotations"]]
    assert boxes == [[10, 10, 30, 30], [0.0, 30.0, 15.0, 40.0]]
    assert all(a["bbox_mode"] == BoxMode.XYXY_ABS for a in out["annotations"])
    assert "clipped 1 box" in caplog.text and "dropped 4" in caplog.text


def test_loading_drops_degenerate_and_filters_empty_images(tmp_path):
    images = [_image(1), _image(2), _image(3)]
    annotations = [_ann(1, 1, [5, 5, 10, 10]), _ann(2, 2, [5, 5, 0, 0])]  # image 3: none
    _write_coco(tmp_path, "af_test_degenerate", images, annotations)
    kept = load_detection_dataset_dicts("af_test_degenerate", filter_empty=True)
    assert [r["image_id"] for r in kept] == [1]
    everything = load_detection_dataset_dicts("af_test_degenerate", filter_empty=False)
    assert [len(r["annotations"]) for r in everything] == [1, 0, 0]


def test_missing_image_file_is_reported_up_front(tmp_path):
    _write_coco(tmp_path, "af_test_missing", [_image(1), _image(2)], [_ann(1, 1, [5, 5, 10, 10])])
    (tmp_path / "2.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 2 image files.*2\.png"):
        load_detection_dataset_dicts("af_test_missing", filter_empty=False)


def _corrupt_record(tmp_path):
    _write_coco(tmp_path, "af_test_corrupt", [_image(1)], [_ann(1, 1, [5, 5, 10, 10])])
    (tmp_path / "1.png").write_bytes(b"not an image at all")
    (record,) = load_detection_dataset_dicts("af_test_corrupt")
    return record


def test_corrupt_image_is_fatal_when_asked_and_names_the_file(tmp_path):
    record = _corrupt_record(tmp_path)
    mapper = CheckedDatasetMapper(
        is_train=True, augmentations=[], image_format="BGR", skip_unreadable=False
    )
    with pytest.raises(ImageReadError, match=r"1\.png"):
        mapper(record)


def test_corrupt_image_is_mapped_to_a_marker_by_default(tmp_path):
    record = _corrupt_record(tmp_path)
    marker = CheckedDatasetMapper(is_train=True, augmentations=[], image_format="BGR")(record)
    assert is_unreadable_marker(marker) and "image" not in marker
    assert marker["file_name"] == record["file_name"] and marker["image_id"] == 1
    assert (marker["height"], marker["width"]) == (IMAGE_H, IMAGE_W)  # for aspect grouping
    assert marker["unreadable_image"].startswith("UnidentifiedImageError: ")


def _marker(name):
    return {"file_name": name, "image_id": 0, "height": 1, "width": 1, "unreadable_image": "bad"}


def test_unreadable_image_filter_drops_counts_and_logs_each_file_once(caplog):
    good = {"file_name": "good.png", "image": None}
    batches = [[good, _marker("a.png")], [_marker("a.png")], [_marker("b.png"), good]]
    loader = UnreadableImageFilter(batches, context="Training")
    with caplog.at_level(logging.WARNING):
        assert list(loader) == [[good], [good]]  # the all-marker batch is not yielded
    assert loader.skipped == {"a.png": 2, "b.png": 1}
    assert caplog.text.count("a.png") == 1 and caplog.text.count("b.png") == 1
    assert loader.summary() == (
        "Training: skipped 2 unreadable image file(s), 3 time(s) in all: a.png, b.png"
    )
    assert len(loader) == 3


def test_unreadable_image_filter_stops_a_loader_with_nothing_readable():
    endless = ([_marker("a.png")] for _ in range(10**6))
    loader = UnreadableImageFilter(endless, context="Training", max_empty_batches_in_a_row=5)
    with pytest.raises(ImageReadError, match="5 batches in a row.*a.png"):
        list(loader)


@pytest.mark.parametrize("channels", [None, 4])
def test_grayscale_and_rgba_files_are_read_as_bgr(tmp_path, channels):
    _write_coco(tmp_path, "af_test_channels", [_image(1)], [_ann(1, 1, [5, 5, 10, 10])])
    shape = (IMAGE_H, IMAGE_W) if channels is None else (IMAGE_H, IMAGE_W, channels)
    cv2.imwrite(str(tmp_path / "1.png"), np.full(shape, 200, np.uint8))
    (record,) = load_detection_dataset_dicts("af_test_channels")
    mapper = CheckedDatasetMapper(is_train=True, augmentations=[], image_format="BGR")
    out = mapper(record)
    assert out["image"].shape == (3, IMAGE_H, IMAGE_W)
    assert len(out["instances"]) == 1


def test_unregistered_dataset():
    with pytest.raises(KeyError, match="not registered"):
        load_detection_dataset_dicts("af_no_such_dataset")
