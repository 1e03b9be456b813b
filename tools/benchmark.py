#!/usr/bin/env python
"""
The one benchmark entry: suites chosen by ``--suite`` (default: cost sizes objects, the side by
side comparison of the five detectors of tools/benchmarking/zoo.py).

* ``cost``, ``sizes``, ``objects`` (tools/benchmarking/cost.py): per detector and device,
  parameters, FLOPs, latency, decode share, training iteration, peak memory; latency against
  image size (``--sizes``); target generation and decoding against the number of objects
  (``--objects``). Writes ``<output>/benchmark.json``, ``<output>/results.md`` (the tables of
  the README's Results) and PNG plots. Trained weights and the final AP from ``<accuracy-dir>``
  where tools/train_accuracy.py wrote them.
* ``centernet``: CenterNet's target generation against per-object loops, decode share,
  latency of COCO-sized configs, AP without and with NMS (``--centernet-weights``).
* ``cornernet``: CornerNet's decoding against K and its target generation.
* ``corner-pooling``: corner pooling forward+backward against cummax and the O(W^2) loop.
* ``fcos-vs-detectron2``: our FCOS against Detectron2's (``--ours-weights``, ``--d2-weights``).
* ``cocoeval``: COCO evaluation with pycocotools, Detectron2's COCOeval_opt on our kernels,
  faster-coco-eval.
* ``export``: each detector's exported graph eager, as TorchScript and in ONNX Runtime
  (``--export-sizes``, ``--export-configs``).
* ``model-zoo``: latency of the configs the converted official checkpoints fit, one
  ``--zoo-size`` image as ``DefaultPredictor`` runs it (the README's model-zoo table).
* ``memory-format``: the CPU recipes' training iteration and inference with the convolution
  weights channels-last (``train.channels_last``) against the default format (``--only``,
  ``--reps``, ``--infer-reps``).
* ``batch-size``: the training cost of an image at several batch sizes of one CPU recipe
  (``--batches``, ``--batch-config``; default the demo's), side by side.

Each suite writes ``<output>/benchmark_<suite>.json`` (the cost suites: benchmark.json).
``--reps`` and ``--warmup`` apply to every suite chosen; unset, each suite uses its own default.

    python tools/benchmark.py [--suite cost sizes objects] [--only fcos centernet]
        [--devices cpu cuda] [--reps 10] [--threads N] [--output output/benchmark]
        [--accuracy-dir output/accuracy] [--report-only]

(or ``python -m tools.benchmark ...`` from the repository root).
"""

import argparse
import importlib
import json
import logging
import os
import sys

import torch

# python -m tools.benchmark (or imported as tools.benchmark): the package tools.benchmarking;
# python tools/benchmark.py: tools/ is the first entry of sys.path, so it is benchmarking.
PACKAGE = f"{__package__}.benchmarking" if __package__ else "benchmarking"
(
    batch_size,
    centernet,
    cocoeval,
    corner_pooling,
    cornernet,
    cost,
    export,
    fcos_vs_detectron2,
    memory_format,
    model_zoo,
    report,
    timing,
    zoo,
) = (
    importlib.import_module(f"{PACKAGE}.{name}")
    for name in (
        "batch_size",
        "centernet",
        "cocoeval",
        "corner_pooling",
        "cornernet",
        "cost",
        "export",
        "fcos_vs_detectron2",
        "memory_format",
        "model_zoo",
        "report",
        "timing",
        "zoo",
    )
)

# Suite name -> its run(args) (the cost suites run together, see run_cost).
OTHER_SUITES = {
    "centernet": centernet.run,
    "cornernet": cornernet.run,
    "corner-pooling": corner_pooling.run,
    "fcos-vs-detectron2": fcos_vs_detectron2.run,
    "cocoeval": cocoeval.run,
    "export": export.run,
    "model-zoo": model_zoo.run,
    "memory-format": memory_format.run,
    "batch-size": batch_size.run,
}
SUITES = (*cost.SUITES, *OTHER_SUITES)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--suite", nargs="+", default=list(cost.SUITES), choices=SUITES, help="suites to run"
    )
    parser.add_argument("--output", default=os.path.join("output", "benchmark"))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reps", type=int, default=None, help="timed calls per measurement")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--train-reps", type=int, default=None, help="cost, fcos-vs-detectron2")

    group = parser.add_argument_group("cost, sizes, objects")
    group.add_argument("--only", nargs="*", default=[], help="detector slugs (default: all)")
    group.add_argument(
        "--devices", nargs="+", default=["cpu", "cuda"], help="cuda is skipped where missing"
    )
    group.add_argument("--accuracy-dir", default=os.path.join("output", "accuracy"))
    group.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512, 768, 1024])
    group.add_argument("--objects", type=int, nargs="+", default=[1, 10, 100, 300, 1000])
    group.add_argument(
        "--report-only",
        action="store_true",
        help="only rewrite results.md and the plots from benchmark.json",
    )

    group = parser.add_argument_group("target generation: centernet, cornernet, fcos-vs-detectron2")
    group.add_argument("--target-reps", type=int, default=None)
    group.add_argument("--target-boxes", type=int, nargs="+", default=None)

    group = parser.add_argument_group("centernet")
    group.add_argument("--centernet-weights", default="", help=f"of {centernet.SHAPES_CONFIG}")

    group = parser.add_argument_group("cornernet")
    group.add_argument("--decode-reps", type=int, default=None)
    group.add_argument("--decode-k", type=int, nargs="+", default=None)
    group.add_argument("--decode-objects", type=int, default=None)

    group = parser.add_argument_group("corner-pooling")
    group.add_argument("--pool-sizes", type=int, nargs="+", default=None, help="H = W")
    group.add_argument("--pool-channels", type=int, default=None)
    group.add_argument("--pool-batch", type=int, default=None)
    group.add_argument("--pool-device", default=None)
    group.add_argument("--loop-reps", type=int, default=None)
    group.add_argument("--loop-warmup", type=int, default=None)

    group = parser.add_argument_group("fcos-vs-detectron2")
    group.add_argument("--ours-weights", default="", help="of configs/FCOS/fcos_R_18_FPN_shapes.py")
    group.add_argument(
        "--d2-weights", default="", help="of configs/baselines/fcos_R_18_FPN_shapes.py"
    )
    group.add_argument("--infer-reps", type=int, default=None)
    group.add_argument("--train-batch", type=int, default=None, help="0: the config's batch")

    group = parser.add_argument_group("cocoeval")
    group.add_argument("--images", type=int, default=None)
    group.add_argument("--categories", type=int, default=None)
    group.add_argument("--gt-per-image", type=float, default=None)
    group.add_argument("--dets-per-image", type=float, default=None)

    group = parser.add_argument_group("export")
    group.add_argument("--export-sizes", type=int, nargs="+", default=None, help="H = W")
    group.add_argument("--export-configs", nargs="+", default=None, choices=list(export.CONFIGS))

    group = parser.add_argument_group("batch-size")
    group.add_argument("--batches", type=int, nargs="+", default=None, help="default 8 4 2")
    group.add_argument(
        "--batch-config", default=None, help=f"a CPU recipe (default {memory_format.DEMO_CONFIG})"
    )

    group = parser.add_argument_group("model-zoo")
    group.add_argument("--zoo-size", type=int, default=None, help="H = W (default 512)")
    return parser.parse_args(argv)


def run_cost(args, suites, argv) -> str:
    """The cost suites ``suites``: ``<output>/benchmark.json``, results.md and the plots."""
    json_path = os.path.join(args.output, "benchmark.json")
    if args.report_only:
        with open(json_path) as f:
            results = json.load(f)
    else:
        detectors = zoo.select(args.only)
        devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
        skipped = sorted(set(args.devices) - set(devices))
        if skipped:
            print(f"skipping {skipped}: not available on this machine", flush=True)
        results = {
            "environment": timing.environment(),
            "command": " ".join(["python", "tools/benchmark.py"] + list(argv)),
            "detectors": {
                d.slug: {
                    "name": d.name,
                    "anchor_free": d.anchor_free,
                    "implementation": d.implementation,
                    "hyperparameters": list(d.hyperparameters),
                }
                for d in detectors
            },
            "devices": {
                device: cost.measure_device(detectors, suites, args, device) for device in devices
            },
        }
        # The final AP of tools/train_accuracy.py's runs (mean over seeds), where it has run.
        summary_path = os.path.join(args.accuracy_dir, "summary.json")
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                rows = json.load(f)
            results["accuracy"] = {
                "detectors": {
                    row["slug"]: {
                        "bbox": {k: v[0] for k, v in row["final"].items() if isinstance(v, list)}
                    }
                    for row in rows
                }
            }
        os.makedirs(args.output, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {json_path}")
    return report.write_report(results, args.output)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    logging.getLogger("detectron2").setLevel(logging.WARNING)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    reports = {}
    cost_suites = [s for s in cost.SUITES if s in args.suite]
    if cost_suites or args.report_only:
        reports["cost"] = run_cost(args, cost_suites or list(cost.SUITES), argv)
        print(reports["cost"])
    for suite in args.suite:
        if suite in OTHER_SUITES:
            reports[suite] = OTHER_SUITES[suite](args)
    return reports


if __name__ == "__main__":
    main()
