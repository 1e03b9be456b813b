"""The embedded synthetic dataset (anchorfree.data.synthetic_shapes): determinism, content
statistics, colour independence of classes, lazy registration, evaluator construction, cache."""

import dataclasses
import json
import os
import threading

import cv2
import numpy as np
import pytest
import torch

import anchorfree  # noqa: F401  (before any detectron2 import)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.data import synthetic_shapes as shapes
from anchorfree.data.synthetic_shapes import cache, drawing, registration
from anchorfree.data.synthetic_shapes.__main__ import main

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator
from detectron2.structures import Boxes, BoxMode, Instances

# Big enough for every property checked below to show up (the generator is seeded, so the
# statistics of a given split are fixed), small enough to generate in a few seconds.
STATS_IMAGES = 160
COLOUR_IMAGES = 120
SMALL_BOX_SIDE = 12
EXTREME_ASPECT = 2.5
CROWDED = 20


def _load(json_file):
    with open(json_file) as f:
        return json.load(f)


def _unregister(name):
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
    MetadataCatalog.pop(name, None)
    registration._REGISTERED.pop(name, None)


@pytest.fixture(scope="module")
def stats_split(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("shapes_stats"))
    json_file, image_root = shapes.generate_synthetic_shapes(root, "stats", STATS_IMAGES)
    return _load(json_file), image_root


# --- determinism ------------------------------------------------------------------------------


def _read_images(image_root, coco):
    return [cv2.imread(os.path.join(image_root, im["file_name"])) for im in coco["images"]]


def test_generation_is_deterministic(tmp_path):
    outputs = []
    for run in ("a", "b"):
        json_file, image_root = shapes.generate_synthetic_shapes(str(tmp_path / run), "det", 10)
        with open(json_file, "rb") as f:
            outputs.append((f.read(), image_root))
    (json_a, root_a), (json_b, root_b) = outputs
    assert json_a == json_b
    coco = json.loads(json_a)
    for im_a, im_b in zip(_read_images(root_a, coco), _read_images(root_b, coco)):
        assert im_a is not None and np.array_equal(im_a, im_b)
    # Another split key or base seed gives other images.
    other, _ = shapes.generate_synthetic_shapes(str(tmp_path / "a"), "det2", 10)
    assert _load(other)["annotations"] != coco["annotations"]


def test_worker_processes_do_not_change_the_output(tmp_path, monkeypatch):
    """Rendering in 2 processes (per-image seeds) gives what rendering in-process gives."""
    monkeypatch.setattr(cache, "MIN_IMAGES_PER_WORKER", 1)
    results = {}
    for workers in (1, 2):
        image_dir = tmp_path / str(workers)
        image_dir.mkdir()
        tasks = [(shapes.DEFAULT_PARAMS, "workers", i, str(image_dir)) for i in range(4)]
        results[workers] = list(cache._render_all(tasks, workers))
        for i in range(4):
            assert (image_dir / cache.IMAGE_FILENAME_FORMAT.format(i)).is_file()
    assert results[1] == results[2]
    for name in os.listdir(tmp_path / "1"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_image_rng_is_keyed_by_seed_split_and_index():
    draw = lambda *key: shapes.image_rng(*key).integers(1 << 30, size=4).tolist()  # noqa: E731
    assert draw(1, "train", 3) == draw(1, "train", 3)
    assert (
        len(
            {
                tuple(draw(*k))
                for k in [(1, "train", 3), (2, "train", 3), (1, "val", 3), (1, "train", 4)]
            }
        )
        == 4
    )


# --- content ----------------------------------------------------------------------------------


def test_coco_format(stats_split):
    coco, image_root = stats_split
    assert [c["id"] for c in coco["categories"]] == list(range(1, shapes.NUM_CLASSES + 1))
    assert [c["name"] for c in coco["categories"]] == list(shapes.SHAPE_CLASSES)
    image_ids = [im["id"] for im in coco["images"]]
    assert len(image_ids) == STATS_IMAGES and len(set(image_ids)) == STATS_IMAGES
    ann_ids = [a["id"] for a in coco["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids)
    p = shapes.DEFAULT_PARAMS
    for im in coco["images"][:20]:
        image = cv2.imread(os.path.join(image_root, im["file_name"]))
        assert image.shape == (im["height"], im["width"], 3)
    for im in coco["images"]:
        assert p.image_min_side <= im["height"] <= p.image_max_side
        assert p.image_min_side <= im["width"] <= p.image_max_side
    # Not all square: odd and unequal sides occur.
    assert any(im["height"] != im["width"] for im in coco["images"])
    assert any(im["height"] % 2 for im in coco["images"])


def test_boxes_are_inside_their_images_and_positive(stats_split):
    coco, _ = stats_split
    images = {im["id"]: im for im in coco["images"]}
    for ann in coco["annotations"]:
        im = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert all(isinstance(v, float) for v in ann["bbox"])
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= im["width"] and y + h <= im["height"]
        assert 0 < ann["area"] <= w * h
        assert ann["iscrowd"] == 0 and 1 <= ann["category_id"] <= shapes.NUM_CLASSES


def test_statistics_cover_sizes_aspects_counts_and_overlap(stats_split):
    coco, _ = stats_split
    stats = shapes.dataset_statistics(coco)
    images = {im["id"]: im for im in coco["images"]}
    assert sum(n > 0 for n in stats["instances_per_class"].values()) >= 6
    # Sizes: from <= 12 px to >= half the image side, and all three COCO buckets well filled.
    assert stats["box_side_range"][0] <= SMALL_BOX_SIDE
    assert any(
        ann["bbox"][2] >= images[ann["image_id"]]["width"] / 2
        or ann["bbox"][3] >= images[ann["image_id"]]["height"] / 2
        for ann in coco["annotations"]
    )
    for bucket, count in stats["size_buckets_scaled"].items():
        assert count >= 0.1 * stats["num_instances"], (bucket, stats["size_buckets_scaled"])
    assert stats["aspect_ratio_range"][0] <= 1.0 / EXTREME_ASPECT
    assert stats["aspect_ratio_range"][1] >= EXTREME_ASPECT
    assert stats["images_with_0_objects"] > 0
    assert stats["images_with_20_or_more_objects"] > 0
    assert stats["objects_per_image"]["max"] >= CROWDED
    assert stats["images_with_overlapping_boxes"] > 0
    assert "images: 160" in shapes.format_statistics(stats)


def test_boxes_are_tight_boxes_of_visible_pixels_and_objects_stay_visible():
    p = shapes.DEFAULT_PARAMS
    num_occluded = 0
    for index in range(30):
        result = shapes.render_synthetic_image(shapes.image_rng(p.seed, "tight", index), p)
        assert result.image.dtype == np.uint8
        assert result.image.shape[:2] == result.instance_map.shape
        assert result.instance_map.max() == len(result.instances)
        for k, inst in enumerate(result.instances, start=1):
            ys, xs = np.nonzero(result.instance_map == k)
            assert inst.area == len(xs)
            x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            assert inst.bbox == (x0, y0, x1 - x0, y1 - y0)
            assert inst.area >= p.min_visible_fraction * inst.full_area
            assert inst.area >= p.min_visible_pixels
            num_occluded += inst.area < inst.full_area
    assert num_occluded > 0  # occlusion and truncation do happen


def test_colour_does_not_determine_the_class():
    """Per-class mean colours agree, and a nearest-class-mean colour classifier is near chance."""
    p = shapes.DEFAULT_PARAMS
    colours, labels = [], []
    for index in range(COLOUR_IMAGES):
        result = shapes.render_synthetic_image(shapes.image_rng(p.seed, "colour", index), p)
        for k, inst in enumerate(result.instances, start=1):
            # The colour as rendered: mean of the instance's visible pixels.
            colours.append(result.image[result.instance_map == k].mean(axis=0))
            labels.append(inst.category_id)
    colours, labels = np.asarray(colours), np.asarray(labels)
    classes = np.unique(labels)
    assert len(classes) == shapes.NUM_CLASSES and len(labels) >= 50 * shapes.NUM_CLASSES
    means = np.stack([colours[labels == c].mean(axis=0) for c in classes])
    overall_std = colours.std(axis=0)
    assert np.all(np.abs(means - colours.mean(axis=0)) < 0.4 * overall_std), means
    distances = np.linalg.norm(colours[:, None, :] - means[None], axis=2)
    accuracy = float(np.mean(classes[distances.argmin(axis=1)] == labels))
    assert accuracy < 2.5 / shapes.NUM_CLASSES, accuracy


def test_demo_difficulty_stays_a_detection_task(tmp_path):
    """The demo difficulty (DEMO_PARAMS): every class, objects from 16 px to half the image side,
    some overlap, distractor strokes and blotches on textured backgrounds."""
    p = shapes.DEMO_PARAMS
    assert shapes.split_params("demo_train") is p and shapes.split_params("demo_val") is p
    assert shapes.split_params("train") is shapes.DEFAULT_PARAMS
    assert shapes.DEMO_SPLITS["demo_train"] >= 1000
    assert p.num_strokes[0] >= 1 and p.num_blotches[1] >= 1 and p.smooth_noise_std > 0
    for index in range(40):
        rng = shapes.image_rng(p.seed, "demo_sizes", index)
        height, width = 300, 280
        for spec in drawing._sample_objects(rng, height, width, p):
            scale = (spec.width * spec.height) ** 0.5
            assert 16.0 <= scale <= 0.5 * min(height, width) + 1e-6
            assert 1 / p.max_aspect_ratio - 1e-6 <= spec.width / spec.height <= p.max_aspect_ratio
    json_file, _ = shapes.generate_synthetic_shapes(str(tmp_path), "demo_val", 60)
    stats = shapes.dataset_statistics(_load(json_file))
    assert _load(os.path.join(tmp_path, "demo_val", "manifest.json"))["params"] == p.to_json()
    assert all(n > 0 for n in stats["instances_per_class"].values())
    assert stats["images_with_overlapping_boxes"] > 0
    assert stats["objects_per_image"]["max"] <= p.max_objects


# --- registration -----------------------------------------------------------------------------


def test_default_datasets_are_registered_on_import():
    for name, size in [
        ("anchorfree_shapes_train", 1000),
        ("anchorfree_shapes_val", 200),
        ("anchorfree_shapes_tiny_train", 64),
        ("anchorfree_shapes_tiny_val", 32),
        ("anchorfree_shapes_demo_train", 1200),
        ("anchorfree_shapes_demo_val", 200),
    ]:
        assert name in DatasetCatalog.list()
        assert registration._REGISTERED[name].num_images == size
        meta = MetadataCatalog.get(name)
        assert meta.evaluator_type == "coco" and meta.thing_classes == list(shapes.SHAPE_CLASSES)


def test_registration_is_lazy_and_loads(tmp_path):
    name = "test_anchorfree_shapes_lazy"
    _unregister(name)
    try:
        shapes.register_synthetic_shapes_split(name, "lazy", 6, root=str(tmp_path))
        shapes.register_synthetic_shapes_split(name, "lazy", 6, root=str(tmp_path))  # idempotent
        meta = MetadataCatalog.get(name)
        assert meta.thing_classes == list(shapes.SHAPE_CLASSES) and meta.evaluator_type == "coco"
        assert meta.image_root == str(tmp_path / "lazy" / "images")
        assert not (tmp_path / "lazy").exists()  # nothing generated yet
        dicts = DatasetCatalog.get(name)
        assert len(dicts) == 6 and (tmp_path / "lazy" / "manifest.json").is_file()
        assert sum(len(d["annotations"]) for d in dicts) > 0
        for d in dicts:
            assert os.path.isfile(d["file_name"])
            for ann in d["annotations"]:
                assert ann["bbox_mode"] == BoxMode.XYWH_ABS
                assert 0 <= ann["category_id"] < shapes.NUM_CLASSES  # contiguous ids
        assert os.path.isfile(meta.json_file)
    finally:
        _unregister(name)


def test_coco_evaluator_builds_on_a_fresh_cache_and_scores_ground_truth(tmp_path):
    name = "test_anchorfree_shapes_eval"
    _unregister(name)
    try:
        shapes.register_synthetic_shapes_split(name, "eval", 4, root=str(tmp_path))
        assert not (tmp_path / "eval").exists()
        evaluator = COCOEvaluator(name, output_dir=None)  # reads metadata json_file: generates
        assert (tmp_path / "eval" / "instances_eval.json").is_file()
        evaluator.reset()
        for d in DatasetCatalog.get(name):
            boxes = [
                BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
                for a in d["annotations"]
            ]
            instances = Instances((d["height"], d["width"]))
            instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
            instances.scores = torch.ones(len(boxes))
            instances.pred_classes = torch.tensor(
                [a["category_id"] for a in d["annotations"]], dtype=torch.int64
            )
            evaluator.process([{"image_id": d["image_id"]}], [{"instances": instances}])
        results = evaluator.evaluate()
        assert results["bbox"]["AP"] == pytest.approx(100.0)
    finally:
        _unregister(name)


def test_reregistration_and_foreign_names(tmp_path):
    name = "test_anchorfree_shapes_rereg"
    _unregister(name)
    try:
        shapes.register_synthetic_shapes_split(name, "a", 3, root=str(tmp_path))
        shapes.register_synthetic_shapes_split(name, "b", 2, root=str(tmp_path))  # replaces
        assert len(DatasetCatalog.get(name)) == 2
        assert MetadataCatalog.get(name).image_root == str(tmp_path / "b" / "images")
        assert not (tmp_path / "a").exists()
    finally:
        _unregister(name)
    DatasetCatalog.register(name, lambda: [])
    try:
        with pytest.raises(ValueError, match="already registered"):
            shapes.register_synthetic_shapes_split(name, "a", 3, root=str(tmp_path))
    finally:
        _unregister(name)


def test_register_synthetic_shapes_with_a_root(tmp_path):
    try:
        shapes.register_synthetic_shapes(str(tmp_path))
        shapes.register_synthetic_shapes(str(tmp_path))
        assert MetadataCatalog.get("anchorfree_shapes_tiny_val").image_root == str(
            tmp_path / "tiny_val" / "images"
        )
        assert os.listdir(tmp_path) == []  # lazy
    finally:
        shapes.register_synthetic_shapes()  # back to the default root for other tests
    assert registration._REGISTERED["anchorfree_shapes_val"].root == shapes.default_root()


def test_default_root_and_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv(cache.DATASETS_ENV_VAR, raising=False)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert shapes.default_root() == os.path.join(repo, ".cache", "datasets", "anchorfree_shapes")
    monkeypatch.setenv(cache.DATASETS_ENV_VAR, str(tmp_path))
    assert shapes.default_root() == str(tmp_path / "anchorfree_shapes")


# --- cache ------------------------------------------------------------------------------------


def _mark(split_dir):
    marker = split_dir / "marker"
    marker.write_text("a split directory that is regenerated is replaced as a whole")
    return marker


def test_cache_is_reused_and_regenerated_when_the_manifest_changes(tmp_path, monkeypatch):
    root, split_dir = str(tmp_path), tmp_path / "cache"
    json_file, _ = shapes.generate_synthetic_shapes(root, "cache", 3)
    manifest = _load(split_dir / "manifest.json")
    assert manifest["generator_version"] == shapes.GENERATOR_VERSION
    assert manifest["num_images"] == 3 and manifest["split"] == "cache"
    assert manifest["params"] == shapes.DEFAULT_PARAMS.to_json()

    marker = _mark(split_dir)
    assert shapes.generate_synthetic_shapes(root, "cache", 3)[0] == json_file
    assert marker.exists()  # reused

    params = dataclasses.replace(shapes.DEFAULT_PARAMS, jpeg_quality=80)
    shapes.generate_synthetic_shapes(root, "cache", 3, params=params)
    assert not marker.exists()  # parameters changed: regenerated
    assert _load(split_dir / "manifest.json")["params"]["jpeg_quality"] == 80

    marker = _mark(split_dir)
    shapes.generate_synthetic_shapes(root, "cache", 4, params=params)
    assert not marker.exists() and len(_load(json_file)["images"]) == 4

    marker = _mark(split_dir)
    monkeypatch.setattr(cache, "GENERATOR_VERSION", cache.GENERATOR_VERSION + 1)
    shapes.generate_synthetic_shapes(root, "cache", 4, params=params)
    assert not marker.exists()

    marker = _mark(split_dir)
    (split_dir / "manifest.json").write_text("{ truncated")
    shapes.generate_synthetic_shapes(root, "cache", 4, params=params)
    assert not marker.exists()
    assert sorted(os.listdir(tmp_path)) == [".cache.lock", "cache"]  # no temporary leftovers


def test_concurrent_generation_is_safe(tmp_path):
    results, errors = [], []

    def generate():
        try:
            results.append(shapes.generate_synthetic_shapes(str(tmp_path), "concurrent", 8))
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=generate) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    coco = _load(results[0][0])
    assert len(coco["images"]) == 8 and len(os.listdir(results[0][1])) == 8
    assert sorted(os.listdir(tmp_path)) == [".concurrent.lock", "concurrent"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_images is required"):
        shapes.generate_synthetic_shapes(str(tmp_path), "custom")
    with pytest.raises(ValueError, match="Invalid split name"):
        shapes.generate_synthetic_shapes(str(tmp_path), "../escape", 1)


def test_command_line_prints_statistics(tmp_path, capsys):
    main(["--root", str(tmp_path), "--splits", "cli", "--num-images", "3"])
    out = capsys.readouterr().out
    assert "split 'cli'" in out and "images: 3" in out and "instances per class" in out
    assert "aspect ratio" in out and "total time" in out
