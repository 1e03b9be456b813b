"""
Helpers shared by the detector tests (tests/{fcos,centernet,cornernet}/): a one-thread fixture,
inputs with ground truth, a check of one training step, the DefaultPredictor check of a
LazyConfig (through ``get_predictor_cfg``), and an over-fit on a few embedded images evaluated
with COCOEvaluator.

Not a test module: tests/conftest.py puts tests/ on ``sys.path``, and the test files import this
as ``detector_testing``.
"""

import copy
import math
from typing import Dict, Iterable, List, NamedTuple, Sequence

import numpy as np
import pytest
import torch

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import get_predictor_cfg, load_config
from anchorfree.data.synthetic_shapes import NUM_CLASSES

from detectron2.config import instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import DefaultPredictor
from detectron2.evaluation import COCOEvaluator
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

TINY_TRAIN = "anchorfree_shapes_tiny_train"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, two OpenMP threads competing with
    another process make training steps up to 10x slower; restored afterwards. Autouse in every
    test module that imports it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def instances(boxes, classes, image_size=(64, 64), crowd=None) -> Instances:
    inst = Instances(image_size)
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.tensor(classes, dtype=torch.long)
    if crowd is not None:
        inst.gt_is_crowd = torch.tensor(crowd, dtype=torch.bool)
    return inst


def random_input(height, width, boxes, classes, seed=0) -> Dict[str, object]:
    """A training input: a random uint8 image with the given ground truth."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (3, height, width), generator=generator).to(torch.uint8)
    return {
        "image": image,
        "instances": instances(boxes, classes, (height, width)),
        "height": height,
        "width": width,
    }


# One image, and three of odd sizes (not multiples of any stride), as (height, width).
odd_sized_batches = pytest.mark.parametrize(
    "sizes", [[(200, 249)], [(200, 249), (131, 97), (256, 300)]], ids=["batch1", "batch3"]
)


def two_object_batch(sizes) -> List[Dict[str, object]]:
    """One random input per (height, width) in ``sizes``, each with two overlapping boxes of
    the first and the last class, the second reaching almost to the image's corner."""
    return [
        random_input(
            h,
            w,
            [[5, 7, w * 0.6, h * 0.5], [w * 0.3, h * 0.2, w - 1, h - 2]],
            [0, NUM_CLASSES - 1],
            seed=i,
        )
        for i, (h, w) in enumerate(sizes)
    ]


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def build_shapes_model(cfg, seed=0):
    """``cfg.model`` instantiated after seeding torch's generator."""
    torch.manual_seed(seed)
    return instantiate(cfg.model)


def check_training_step(model, batch, loss_keys: Iterable[str], every_parameter=False):
    """One training forward and backward of ``batch``: exactly ``loss_keys``, all finite, and
    finite gradients (on every parameter when ``every_parameter``, else on at least one).
    Returns the losses."""
    model.train()
    model.zero_grad()
    with EventStorage():
        losses = model(batch)
    assert set(losses) == set(loss_keys)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()
    if every_parameter:
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    else:
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
    return losses


def check_default_predictor(config_file: str, tmp_path, test_options: Sequence = ()) -> None:
    """Detectron2's DefaultPredictor of the LazyConfig ``config_file`` (served by
    ``get_predictor_cfg``) with seed-0 random weights loaded from a file and ``test_options``
    (``key=value`` overrides) on top, on a random 201x249 image: detections at the image's
    size, at most 100, of known classes."""
    torch.manual_seed(0)
    weights = tmp_path / "model.pth"
    torch.save({"model": instantiate(load_config(config_file).model).state_dict()}, weights)
    cfg = get_predictor_cfg(config_file, [f"train.init_checkpoint={weights}", *test_options])
    predictor = DefaultPredictor(cfg)
    image = np.random.default_rng(0).integers(0, 256, (201, 249, 3), dtype=np.uint8)
    result = predictor(image)["instances"]
    assert result.image_size == (201, 249) and 0 < len(result) <= 100
    assert result.pred_classes.max() < NUM_CLASSES


def _close(a, b, atol, rtol):
    return bool(((a - b).abs() <= atol + rtol * b.abs()).all())


def assert_same_detections(
    boxes, scores, classes, expected_boxes, expected_scores, expected_classes
):
    """The same detections up to the order of equal scores: each expected one has its own
    match of the same class, box within 1e-3 px (relative 1e-4), score within 1e-4."""
    assert len(scores) == len(expected_scores)
    unmatched = list(range(len(scores)))
    for i in expected_scores.argsort(descending=True).tolist():
        match = next(
            (
                j
                for j in unmatched
                if int(classes[j]) == int(expected_classes[i])
                and _close(scores[j], expected_scores[i], 1e-4, 0)
                and _close(boxes[j], expected_boxes[i], 1e-3, 1e-4)
            ),
            None,
        )
        assert match is not None, (
            f"no match for {expected_boxes[i].tolist()} class {int(expected_classes[i])} "
            f"score {float(expected_scores[i])}"
        )
        unmatched.remove(match)


# ------------------------------------------------------------------------------------------
# Over-fit on embedded images
# ------------------------------------------------------------------------------------------


class OverfitSet(NamedTuple):
    dataset: str  # registered name, for COCOEvaluator
    dicts: List[dict]
    batch: List[dict]  # the dicts mapped for training


def overfit_set(dataset: str, cfg, count=4) -> OverfitSet:
    """The first ``count`` non-empty images of the tiny embedded split, registered as
    ``dataset``, and mapped by ``cfg``'s training mapper without augmentation."""
    dicts = [d for d in DatasetCatalog.get(TINY_TRAIN) if d["annotations"]][:count]
    if dataset not in DatasetCatalog.list():
        DatasetCatalog.register(dataset, lambda: copy.deepcopy(dicts))
        MetadataCatalog.get(dataset).set(
            thing_classes=MetadataCatalog.get(TINY_TRAIN).thing_classes
        )
    cfg = copy.deepcopy(cfg)
    cfg.dataloader.train.mapper.augmentations = []
    mapper = instantiate(cfg.dataloader.train.mapper)
    return OverfitSet(dataset, dicts, [mapper(copy.deepcopy(d)) for d in dicts])


def ap50(model, data: OverfitSet, output_dir: str) -> float:
    """COCO AP50 of ``model`` on the images of ``data``; leaves the model in training mode."""
    model.eval()
    evaluator = COCOEvaluator(data.dataset, output_dir=output_dir)
    evaluator.reset()
    with torch.no_grad():
        for x, d in zip(data.batch, data.dicts):
            evaluator.process([{"image_id": d["image_id"]}], model([{"image": x["image"]}]))
    model.train()
    return evaluator.evaluate()["bbox"]["AP50"]


def train_until_ap50(
    model,
    optimizer,
    base_lr: float,
    data: OverfitSet,
    output_dir: str,
    max_iter: int,
    eval_every: int,
    eval_from: int,
    warmup_iters: int = 20,
    target: float = 90,
) -> List[float]:
    """Full-batch training on ``data`` (learning rate rising linearly to ``base_lr`` over
    ``warmup_iters`` iterations), AP50 on the same images every ``eval_every`` iterations from
    ``eval_from`` on, stopping once it reaches ``target`` or after ``max_iter`` iterations.
    Returns the AP50s measured."""
    scores = []
    model.train()
    with EventStorage():
        for iteration in range(1, max_iter + 1):
            for group in optimizer.param_groups:
                group["lr"] = base_lr * min(1.0, iteration / warmup_iters)
            loss = sum(model(data.batch).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if iteration % eval_every == 0 and iteration >= eval_from:
                scores.append(ap50(model, data, output_dir))
                if scores[-1] >= target:
                    break
    return scores
