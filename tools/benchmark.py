#!/usr/bin/env python
"""
Every detector of tools/detector_zoo.py side by side, in one process, on the same inputs:
Detectron2's RetinaNet and FCOS and this project's FCOS, CenterNet and CornerNet, each at its
CPU-sized config on the embedded dataset.

Per detector and device (CPU, and CUDA when present):

* parameters, and FLOPs of backbone + head at the benchmark input (fvcore);
* inference latency of the whole model (preprocessing to rescaled detections) on embedded
  validation images: warm-up, then the median of ``--reps`` calls, the detectors alternating;
* decode share: the time of turning head outputs into detections (decoding, peak extraction,
  pairing, NMS), measured on the same predictions, over the latency;
* training iteration (forward, backward, SGD step) on one fixed batch of embedded training
  images, and peak memory of an inference call and of a training iteration;
* latency against square image size (``--sizes``);
* target generation and decode time against the number of objects (``--objects``): targets
  for random boxes on a 512x512 input, and decoding of predictions in which that many objects
  were planted (every other score set far below the threshold);
* the anchor-based against anchor-free comparison: predictions per image, assignment cost,
  detection hyper-parameters to tune, and AP from tools/train_accuracy.py.

Decoding cost depends on how many candidates pass the score thresholds, so trained weights
are used where ``<accuracy-dir>/<slug>/model_final.pth`` exists (tools/train_accuracy.py writes
them) and random initialization otherwise; the report says which.

Writes ``<output>/benchmark.json``, ``<output>/results.md`` (the tables of the README's Results)
and PNG plots: AP against latency, latency against image size, and decode and target-generation
time against the number of objects.

    python tools/benchmark.py [--only fcos centernet] [--devices cpu cuda] [--reps 10]
        [--output output/benchmark] [--accuracy-dir output/accuracy] [--report-only]
"""

import argparse
import copy
import json
import logging
import os
import sys
from typing import Dict, List

import numpy as np
import torch
from bench_common import (
    alternate,
    environment,
    peak_memory_mib,
    random_instances,
    summary,
    time_calls,
)
from benchmark_adapters import adapter_for
from benchmark_report import write_report
from detector_zoo import Detector, select
from tqdm import tqdm

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import load_config

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog
from detectron2.utils.events import EventStorage

TARGET_IMAGE_SIZE = (512, 512)  # (H, W) of the target-generation and decode measurements


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", default=[], help="detector slugs (default: all)")
    parser.add_argument(
        "--devices",
        nargs="+",
        default=["cpu", "cuda"],
        help="cuda is skipped where it is not available",
    )
    parser.add_argument("--output", default=os.path.join("output", "benchmark"))
    parser.add_argument("--accuracy-dir", default=os.path.join("output", "accuracy"))
    parser.add_argument("--reps", type=int, default=10, help="timed calls per measurement")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--train-reps", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512, 768, 1024])
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 10, 100, 300, 1000])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="only rewrite results.md and the plots from benchmark.json",
    )
    return parser.parse_args(argv)


def build(detector: Detector, accuracy_dir: str, device: str, seed: int):
    cfg = load_config(detector.config_path)
    torch.manual_seed(seed)
    model = instantiate(cfg.model).to(device)
    weights = os.path.join(accuracy_dir, detector.slug, "model_final.pth")
    if os.path.exists(weights):
        DetectionCheckpointer(model).load(weights)
    else:
        weights = "random init"
    return cfg, model, weights


def mapped_images(cfg, dataset: str, count: int, with_instances: bool) -> List[dict]:
    """The first ``count`` images with objects, mapped as for training without random flips
    (every detector's config uses the same data pipeline, configs/common/data/shapes.py)."""
    cfg = copy.deepcopy(cfg)
    cfg.dataloader.train.mapper.augmentations = []
    mapper = instantiate(cfg.dataloader.train.mapper)
    out = []
    for record in [d for d in DatasetCatalog.get(dataset) if d["annotations"]][:count]:
        mapped = mapper(copy.deepcopy(record))
        if not with_instances:
            mapped = {k: mapped[k] for k in ("image", "height", "width")}
        out.append(mapped)
    return out


def to_device(inputs: List[dict], device: str) -> List[dict]:
    return [{k: v.to(device) if torch.is_tensor(v) else v for k, v in x.items()} for x in inputs]


def resized(image: torch.Tensor, size: int) -> dict:
    scaled = (
        torch.nn.functional.interpolate(
            image[None].float(), size=(size, size), mode="bilinear", align_corners=False
        )[0]
        .round()
        .clamp(0, 255)
        .to(torch.uint8)
    )
    return {"image": scaled, "height": size, "width": size}


def count_flops(model, adapter, inputs: List[dict]) -> float:
    """FLOPs (fvcore: one fused multiply-add counts as one) of backbone + head, in G."""
    from fvcore.nn import FlopCountAnalysis

    class Network(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, tensor):
            return tuple(adapter.flat_outputs(model, tensor))

    with torch.no_grad():
        images, _, _ = adapter.network(model, inputs)
        analysis = FlopCountAnalysis(Network().eval(), (images.tensor,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        logging.getLogger("fvcore").setLevel(logging.ERROR)
        return analysis.total() / 1e9


def measure_device(detectors, args, device: str) -> Dict[str, dict]:
    built = {}
    for detector in detectors:
        cfg, model, weights = build(detector, args.accuracy_dir, device, args.seed)
        built[detector.slug] = (cfg, model, weights, adapter_for(detector.slug))
    first_cfg = built[detectors[0].slug][0]
    val_images = to_device(mapped_images(first_cfg, "anchorfree_shapes_val", 8, False), device)
    batch_size = first_cfg.dataloader.train.total_batch_size
    train_batch = to_device(
        mapped_images(first_cfg, "anchorfree_shapes_train", batch_size, True), device
    )
    results = {d.slug: {"weights": built[d.slug][2], "config": d.config} for d in detectors}

    progress = tqdm(total=6, desc=f"{device}: cost", unit="step")
    for slug, (_, model, _, adapter) in built.items():
        model.eval()
        results[slug]["parameters_M"] = sum(p.numel() for p in model.parameters()) / 1e6
        results[slug]["gflops"] = count_flops(model, adapter, val_images[:1])
    progress.update()

    counters = {slug: 0 for slug in built}

    def inference(slug):
        model = built[slug][1]

        def run():
            with torch.no_grad():
                model([val_images[counters[slug] % len(val_images)]])
            counters[slug] += 1

        return run

    latency = alternate({s: inference(s) for s in built}, args.reps, args.warmup, device)
    progress.update()
    for slug, (_, model, _, adapter) in built.items():
        results[slug]["latency"] = summary(latency[slug])
        with torch.no_grad():
            images, features, predictions = adapter.network(model, val_images[:1])
            decode_times = time_calls(
                lambda: adapter.decode(model, images, features, predictions),
                args.reps,
                args.warmup,
                device,
            )
        results[slug]["decode"] = summary(decode_times)
        results[slug]["decode_share"] = (
            results[slug]["decode"]["median_ms"] / results[slug]["latency"]["median_ms"]
        )
        results[slug]["predictions_per_image"] = adapter.num_predictions(model, predictions)
        with torch.no_grad():
            results[slug]["inference_peak_MiB"] = peak_memory_mib(
                lambda: model(val_images[:1]), device
            )
    progress.update()

    optimizers = {
        slug: torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        for slug, (_, model, _, _) in built.items()
    }

    def train_step(slug):
        model, optimizer = built[slug][1], optimizers[slug]

        def run():
            loss = sum(model(train_batch).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return run

    for _, model, _, _ in built.values():
        model.train()
    with EventStorage():
        training = alternate({s: train_step(s) for s in built}, args.train_reps, 1, device)
        for slug in built:
            results[slug]["train_iteration"] = {**summary(training[slug]), "batch": batch_size}
            results[slug]["train_peak_MiB"] = peak_memory_mib(train_step(slug), device)
    progress.update()

    for _, model, _, _ in built.values():
        model.eval()
    by_size = {slug: {} for slug in built}
    for size in tqdm(args.sizes, desc=f"{device}: image sizes", leave=False):
        inputs = [resized(val_images[0]["image"], size)]
        with torch.no_grad():
            times = alternate(
                {s: (lambda m=built[s][1]: m(inputs)) for s in built},
                max(args.reps // 2, 3),
                1,
                device,
            )
        for slug in built:
            by_size[slug][str(size)] = summary(times[slug])
    for slug in built:
        results[slug]["latency_by_size"] = by_size[slug]
    progress.update()

    rng = np.random.default_rng(args.seed)
    blank = [
        {
            "image": torch.zeros(3, *TARGET_IMAGE_SIZE, dtype=torch.uint8, device=device),
            "height": TARGET_IMAGE_SIZE[0],
            "width": TARGET_IMAGE_SIZE[1],
        }
    ]
    blank_outputs = {}  # per detector: (images, features, predictions) of the blank input
    for slug, (_, model, _, adapter) in built.items():
        results[slug]["targets_by_objects"] = {}
        results[slug]["decode_by_objects"] = {}
        with torch.no_grad():
            blank_outputs[slug] = adapter.network(model, blank)
    for num_objects in tqdm(args.objects, desc=f"{device}: objects", leave=False):
        for slug, (_, model, _, adapter) in built.items():
            images, features, predictions = blank_outputs[slug]
            gt = [
                random_instances(
                    num_objects, rng, TARGET_IMAGE_SIZE, model.num_classes, sizes=(8, 400)
                ).to(device)
            ]
            with torch.no_grad():
                assign = adapter.target_generation(model, images, features, predictions, gt)
                planted = adapter.plant(model, predictions, num_objects, rng)
                results[slug]["targets_by_objects"][str(num_objects)] = summary(
                    time_calls(assign, args.reps, 1, device)
                )
                results[slug]["decode_by_objects"][str(num_objects)] = summary(
                    time_calls(
                        lambda: adapter.decode(model, images, features, planted),
                        args.reps,
                        1,
                        device,
                    )
                )
    progress.update()
    progress.close()
    return results


def main(argv=None):
    args = parse_args(argv)
    logging.getLogger("detectron2").setLevel(logging.WARNING)
    json_path = os.path.join(args.output, "benchmark.json")
    if args.report_only:
        with open(json_path) as f:
            report = json.load(f)
    else:
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        detectors = select(args.only)
        devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
        skipped = sorted(set(args.devices) - set(devices))
        if skipped:
            print(f"skipping {skipped}: not available on this machine", flush=True)
        report = {
            "environment": environment(),
            "command": " ".join(["python", "tools/benchmark.py"] + (argv or sys.argv[1:])),
            "detectors": {
                d.slug: {
                    "name": d.name,
                    "anchor_free": d.anchor_free,
                    "implementation": d.implementation,
                    "hyperparameters": list(d.hyperparameters),
                }
                for d in detectors
            },
            "devices": {device: measure_device(detectors, args, device) for device in devices},
        }
        accuracy_path = os.path.join(args.accuracy_dir, "accuracy.json")
        if os.path.exists(accuracy_path):
            with open(accuracy_path) as f:
                report["accuracy"] = json.load(f)
        os.makedirs(args.output, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {json_path}")
    markdown = write_report(report, args.output)
    print(markdown)


if __name__ == "__main__":
    main()
