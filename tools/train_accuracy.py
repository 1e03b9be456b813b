#!/usr/bin/env python
"""
Train every detector of tools/benchmarking/zoo.py with the same CPU budget on the embedded dataset
(``train_net.py`` with each CPU-sized config, one after another, same seed), and collect the
COCOEvaluator metrics of each final model on ``anchorfree_shapes_val`` (AP, AP50, AP75, AP by
size; from the evaluation at the end of training) with the training wall time in
``<output>/accuracy.json``.

A detector whose ``model_final.pth`` already exists is not trained again (delete its directory,
or pass ``--retrain``); an interrupted training run resumes from its last checkpoint.

    python tools/train_accuracy.py [--only fcos centernet] [--seed 1] [--output output/accuracy]
        [--override train.max_iter=20 ...]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch

if __package__:  # python -m tools.train_accuracy, or imported as tools.train_accuracy
    from .benchmarking.zoo import REPO, select
else:  # python tools/train_accuracy.py: tools/ is the first entry of sys.path
    from benchmarking.zoo import REPO, select


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=[], help="detector slugs (default: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", default=os.path.join("output", "accuracy"))
    parser.add_argument("--retrain", action="store_true", help="train even if a final model exists")
    parser.add_argument(
        "--override",
        dest="opts",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a LazyConfig override for every detector (repeatable), e.g. train.max_iter=20",
    )
    return parser.parse_args()


def train(config: str, output_dir: str, seed: int, opts, retrain: bool) -> float:
    """Run train_net.py; returns its wall time in seconds (0 when a final model already exists)."""
    final = os.path.join(output_dir, "model_final.pth")
    if os.path.exists(final) and not retrain:
        print(f"  {final} exists: not training again (--retrain to do so)", flush=True)
        return 0.0
    command = [
        sys.executable,
        os.path.join(REPO, "train_net.py"),
        "--config-file",
        config,
        *(["--resume"] if not retrain else []),
        f"train.output_dir={output_dir}",
        f"train.seed={seed}",
        *opts,
    ]
    print("  $ " + " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def final_metrics_of_training(output_dir: str) -> dict:
    """The COCO metrics of the evaluation at the end of training (Detectron2's metrics.json)."""
    path = os.path.join(output_dir, "metrics.json")
    if not os.path.exists(path):
        return {}
    last = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if "bbox/AP" in record:
                last = record
    return {k.split("/", 1)[1]: v for k, v in last.items() if k.startswith("bbox/")}


def seed_of_run(output_dir: str):
    """``train.seed`` as the training run saved it in its config.yaml (-1: not fixed)."""
    import yaml

    class Loader(yaml.SafeLoader):
        """Reads the saved LazyConfig, whose Python objects (e.g. ShapeSpec) are tagged."""

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    path = os.path.join(output_dir, "config.yaml")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return (yaml.load(f, Loader=Loader).get("train") or {}).get("seed")


def evaluate(config: str, output_dir: str, opts) -> dict:
    # Imported here so that training runs in a fresh process without this one holding memory.
    import anchorfree.data  # noqa: F401  (registers the embedded dataset)
    from anchorfree.config import load_config
    from anchorfree.engine import build_model_from_config, do_test

    from detectron2.checkpoint import DetectionCheckpointer

    cfg = load_config(config, [f"train.output_dir={output_dir}", *opts])
    model = build_model_from_config(cfg)
    DetectionCheckpointer(model).load(os.path.join(output_dir, "model_final.pth"))
    return dict(do_test(cfg, model)["bbox"])


def main():
    args = parse_args()
    os.makedirs(args.output, exist_ok=True)
    report_path = os.path.join(args.output, "accuracy.json")
    report = {}
    if os.path.exists(report_path):
        with open(report_path) as f:
            report = json.load(f)
    report["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
    }
    report.setdefault("detectors", {})
    detectors = select(args.only)
    for i, detector in enumerate(detectors, 1):
        print(f"[{i}/{len(detectors)}] {detector.name}: {detector.config}", flush=True)
        output_dir = os.path.join(args.output, detector.slug)
        seconds = train(detector.config_path, output_dir, args.seed, args.opts, args.retrain)
        # train_net.py evaluates at the end of training; evaluate here only if that is missing.
        metrics = final_metrics_of_training(output_dir) or evaluate(
            detector.config_path, output_dir, args.opts
        )
        previous = report["detectors"].get(detector.slug, {})
        report["detectors"][detector.slug] = {
            "name": detector.name,
            "config": detector.config,
            "seed": seed_of_run(output_dir),
            "overrides": args.opts,
            "train_wall_s": seconds or previous.get("train_wall_s"),
            "bbox": metrics,
        }
        with open(report_path, "w") as f:  # after every detector: nothing is lost on a stop
            json.dump(report, f, indent=2)
        print(f"  AP {metrics['AP']:.2f}  AP50 {metrics['AP50']:.2f}  -> {report_path}", flush=True)


if __name__ == "__main__":
    main()
