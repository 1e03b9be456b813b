"""
The suite ``cocoeval``: time COCO box evaluation (``evaluate()`` + ``accumulate()``) on a synthetic
COCO-like set with:

* pycocotools' ``COCOeval`` (the reference, pure Python loops);
* Detectron2's ``COCOeval_opt`` (``detectron2.evaluation.fast_eval_api``), which runs on the NumPy
  kernels of anchorfree-d2's ``detectron2._C`` stand-in when Detectron2 has no compiled extension
  (the time spent in the kernels themselves is reported apart);
* faster-coco-eval's ``COCOeval_faster`` (C++), where installed.

Prints a table of the median of ``--reps`` runs (3) and writes it as JSON to
``<output>/benchmark_cocoeval.json``. Every implementation's summary stats are checked against
pycocotools'. Options: ``--images`` (500), ``--categories`` (10), ``--gt-per-image`` (10),
``--dets-per-image`` (100), ``--reps``, ``--seed``.
"""

import contextlib
import copy
import io
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from .timing import with_defaults

DEFAULTS = {"images": 500, "categories": 10, "gt_per_image": 10, "dets_per_image": 100, "reps": 3}


def make_dataset(
    num_images: int, num_categories: int, gt_per_image: int, dets_per_image: int, seed: int
) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """A synthetic COCO ground truth (dict) and box detections (list of results).

    Each image has about ``gt_per_image`` ground-truth boxes of all sizes (5% crowd) and about
    ``dets_per_image`` detections: 1 to 3 noisy copies of each ground-truth box (sometimes of the
    wrong category), the rest random boxes, scored lower on average.
    """
    rng = np.random.default_rng(seed)
    width, height = 640, 480
    images = [
        {"id": i + 1, "width": width, "height": height, "file_name": f"{i}.jpg"}
        for i in range(num_images)
    ]
    categories = [{"id": c + 1, "name": f"class{c + 1}"} for c in range(num_categories)]

    def random_boxes(n: int) -> np.ndarray:
        side = np.exp(rng.uniform(np.log(8), np.log(400), n))
        w = np.minimum(side * rng.uniform(0.5, 2.0, n), width - 1)
        h = np.minimum(side * rng.uniform(0.5, 2.0, n), height - 1)
        return np.stack([rng.uniform(0, width - w), rng.uniform(0, height - h), w, h], axis=1)

    annotations, detections = [], []
    for image in images:
        gt_boxes = random_boxes(int(rng.poisson(gt_per_image)))
        gt_classes = rng.integers(1, num_categories + 1, len(gt_boxes))
        for box, category in zip(gt_boxes.tolist(), gt_classes.tolist()):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image["id"],
                    "category_id": category,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": int(rng.random() < 0.05),
                }
            )
        copies = rng.integers(1, 4, len(gt_boxes))
        true_boxes = np.repeat(gt_boxes, copies, axis=0)
        true_boxes[:, :2] += rng.normal(0, 0.08, (len(true_boxes), 2)) * true_boxes[:, 2:]
        true_boxes[:, 2:] *= np.exp(rng.normal(0, 0.1, (len(true_boxes), 2)))
        true_classes = np.repeat(gt_classes, copies)
        wrong = rng.random(len(true_classes)) < 0.1
        true_classes[wrong] = rng.integers(1, num_categories + 1, int(wrong.sum()))
        num_random = max(int(rng.poisson(dets_per_image)) - len(true_boxes), 0)
        boxes = np.concatenate([true_boxes, random_boxes(num_random)])
        classes = np.concatenate([true_classes, rng.integers(1, num_categories + 1, num_random)])
        scores = np.concatenate(
            [rng.uniform(0.3, 1.0, len(true_boxes)), rng.uniform(0.0, 0.7, num_random)]
        )
        for box, category, score in zip(boxes.tolist(), classes.tolist(), scores.tolist()):
            detections.append(
                {"image_id": image["id"], "category_id": category, "bbox": box, "score": score}
            )
    return {"images": images, "annotations": annotations, "categories": categories}, detections


def _pycocotools_eval(
    dataset: Dict[str, Any], detections: List[Dict[str, Any]], evaluator_class: type
) -> Any:
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = copy.deepcopy(dataset)
    gt.createIndex()
    return evaluator_class(gt, gt.loadRes(copy.deepcopy(detections)), "bbox")


def make_pycocotools(dataset: Dict[str, Any], detections: List[Dict[str, Any]]) -> Any:
    from pycocotools.cocoeval import COCOeval

    return _pycocotools_eval(dataset, detections, COCOeval)


def make_detectron2(dataset: Dict[str, Any], detections: List[Dict[str, Any]]) -> Any:
    from detectron2.evaluation.fast_eval_api import COCOeval_opt

    return _pycocotools_eval(dataset, detections, COCOeval_opt)


def make_faster_coco_eval(dataset: Dict[str, Any], detections: List[Dict[str, Any]]) -> Any:
    from faster_coco_eval import COCO, COCOeval_faster

    gt = COCO(copy.deepcopy(dataset))
    dt = gt.loadRes(copy.deepcopy(detections))
    return COCOeval_faster(gt, dt, "bbox", print_function=lambda *args: None)


@contextlib.contextmanager
def kernel_timer(times: List[float]):
    """Accumulate into ``times[0]`` the time spent in the ``detectron2._C`` COCO kernels."""
    from detectron2 import _C

    names = ["COCOevalEvaluateImages", "COCOevalAccumulate"]
    originals = {name: getattr(_C, name) for name in names}

    def timed(function: Callable) -> Callable:
        def wrapper(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args)
            finally:
                times[0] += time.perf_counter() - start

        return wrapper

    for name in names:
        setattr(_C, name, timed(originals[name]))
    try:
        yield
    finally:
        for name in names:
            setattr(_C, name, originals[name])


def evaluate(
    make: Callable[[Dict[str, Any], List[Dict[str, Any]]], Any],
    dataset: Dict[str, Any],
    detections: List[Dict[str, Any]],
    repeats: int,
    time_kernels: bool,
) -> Dict[str, Any]:
    """Median (and all) times of ``evaluate()`` + ``accumulate()`` over ``repeats`` fresh
    evaluators, and the summary stats of the last."""
    times, kernel_times = [], []
    for _ in range(repeats):
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator = make(dataset, detections)
            kernels = [0.0]
            with kernel_timer(kernels) if time_kernels else contextlib.nullcontext():
                start = time.perf_counter()
                evaluator.evaluate()
                evaluator.accumulate()
                times.append(time.perf_counter() - start)
        kernel_times.append(kernels[0])
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.summarize()
    result = {
        "median_s": statistics.median(times),
        "times_s": times,
        "stats": [float(s) for s in evaluator.stats],
    }
    if time_kernels:
        result["kernels_median_s"] = statistics.median(kernel_times)
    return result


def run(args) -> Dict[str, Any]:
    """Run the suite; returns the report, written to ``<output>/benchmark_cocoeval.json``."""
    args = with_defaults(args, DEFAULTS)
    from detectron2 import _C

    dataset, detections = make_dataset(
        args.images, args.categories, args.gt_per_image, args.dets_per_image, args.seed
    )
    standin = getattr(_C, "IS_ANCHORFREE_STANDIN", False)
    kernel_kind = "anchorfree NumPy kernels" if standin else "compiled kernels"
    d2_name = f"detectron2 COCOeval_opt ({kernel_kind})"
    implementations = [
        ("pycocotools COCOeval", make_pycocotools, False),
        (d2_name, make_detectron2, True),
    ]
    try:
        import faster_coco_eval

        name = f"faster_coco_eval {faster_coco_eval.__version__} COCOeval_faster"
        implementations.append((name, make_faster_coco_eval, False))
    except ImportError:
        print("faster_coco_eval is not installed: skipped", file=sys.stderr)

    print(
        f"{args.images} images, {args.categories} categories, "
        f"{len(dataset['annotations'])} ground-truth boxes, {len(detections)} detections; "
        f"median of {args.reps} runs of evaluate() + accumulate()"
    )
    results = []
    for name, make, time_kernels in implementations:
        result = evaluate(make, dataset, detections, args.reps, time_kernels)
        results.append({"implementation": name, **result})
        print(f"  {name}: {result['median_s']:.3f} s", file=sys.stderr)

    reference = results[0]
    width = max(len(r["implementation"]) for r in results)
    print(
        f"{'implementation':<{width}}  {'median s':>9}  {'speed-up':>8}  {'kernels s':>9}  "
        f"{'AP':>7}  {'max |stats diff|':>16}"
    )
    for r in results:
        r["speedup_vs_pycocotools"] = reference["median_s"] / r["median_s"]
        stats_diff = np.abs(np.subtract(r["stats"], reference["stats"]))
        r["max_abs_stats_diff_vs_pycocotools"] = float(stats_diff.max())
        kernels = f"{r['kernels_median_s']:.3f}" if "kernels_median_s" in r else "-"
        print(
            f"{r['implementation']:<{width}}  {r['median_s']:>9.3f}  "
            f"{r['speedup_vs_pycocotools']:>7.1f}x  {kernels:>9}  {100 * r['stats'][0]:>7.3f}  "
            f"{r['max_abs_stats_diff_vs_pycocotools']:>16.2e}"
        )

    report = {
        "config": {
            "images": args.images,
            "categories": args.categories,
            "gt_per_image": args.gt_per_image,
            "dets_per_image": args.dets_per_image,
            "ground_truth_boxes": len(dataset["annotations"]),
            "detections": len(detections),
            "repeats": args.reps,
            "seed": args.seed,
            "timed": "evaluate() + accumulate(), fresh evaluator each run",
        },
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "results": results,
    }
    out = os.path.join(args.output, "benchmark_cocoeval.json")
    os.makedirs(args.output, exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {out}")
    return report
