#!/usr/bin/env python
"""
anchorfree.fcos against Detectron2's built-in FCOS, side by side in one run, on the same
backbone (ResNet-18 + FPN at 128 channels, 2-conv GroupNorm head), input and data: the two
``*_R_18_FPN_shapes.py`` configs (configs/FCOS/ and configs/baselines/).

Measured (median over repetitions after warm-up; the two models alternate within each
repetition so that machine load affects both alike):

* inference latency: one embedded validation image per call, through the whole model
  (preprocessing, backbone, head, decoding, NMS, rescaling);
* training iteration: forward, backward and SGD step on a fixed batch of embedded training
  images (``--train-batch``, the training budget's batch by default);
* target assignment for 10/100/500 random boxes on an 800x1333 input (P3-P7 of a 800x1344
  padded batch): our ``FCOSTargetGenerator`` (labels, box and matched-index targets) against
  Detectron2 FCOS's ``match_anchors`` (matched indices only) and ``label_anchors`` (plus
  gathered labels and boxes).

Decoding time depends on how many candidates pass the score threshold, so compare trained
models (``--ours-weights``/``--d2-weights``, e.g. from ``train_net.py`` with the two configs):
with random initialization every point passes Detectron2's threshold (``sqrt(cls*ctr)`` with
``cls`` at the 0.01 prior and ``ctr`` at 0.5 is above 0.05) and none passes ours.

    python tools/benchmark_fcos.py [--ours-weights A.pth --d2-weights B.pth] [--threads N]
        [--out output/benchmark_fcos.json]
"""

import argparse
import copy
import logging
import os
from typing import Dict

import numpy as np
import torch
from bench_common import (
    alternate,
    environment,
    paired_ratio,
    random_instances,
    summary,
    write_json_report,
)

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import load_config
from anchorfree.fcos import FCOSTargetGenerator

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog
from detectron2.utils.events import EventStorage

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS_CONFIG = os.path.join(REPO, "configs", "FCOS", "fcos_R_18_FPN_shapes.py")
D2_CONFIG = os.path.join(REPO, "configs", "baselines", "fcos_R_18_FPN_shapes.py")
# P3-P7 of an 800x1333 image padded to 800x1344 (the FPN's size divisibility, 32).
ASSIGN_SHAPES = [(100, 168), (50, 84), (25, 42), (13, 21), (7, 11)]
ASSIGN_IMAGE = (800, 1333)
STRIDES = [8, 16, 32, 64, 128]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=os.path.join("output", "benchmark_fcos.json"))
    parser.add_argument(
        "--ours-weights", default="", help="checkpoint of configs/FCOS/fcos_R_18_FPN_shapes.py"
    )
    parser.add_argument(
        "--d2-weights", default="", help="checkpoint of configs/baselines/fcos_R_18_FPN_shapes.py"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--infer-reps", type=int, default=30)
    parser.add_argument("--train-reps", type=int, default=10)
    parser.add_argument("--train-batch", type=int, default=0, help="0: the config's batch size")
    parser.add_argument("--assign-reps", type=int, default=30)
    parser.add_argument("--assign-boxes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build(config_path: str, weights: str, seed: int):
    cfg = load_config(config_path)
    torch.manual_seed(seed)
    model = instantiate(cfg.model)
    if weights:
        DetectionCheckpointer(model).load(weights)
    return cfg, model


def mapped_images(cfg, dataset: str, count: int, with_instances: bool):
    """The first ``count`` images with objects (Detectron2's FCOS fails on images without any),
    mapped as for training, without random flips."""
    cfg = copy.deepcopy(cfg)
    cfg.dataloader.train.mapper.augmentations = []
    mapper = instantiate(cfg.dataloader.train.mapper)
    dicts = [d for d in DatasetCatalog.get(dataset) if d["annotations"]][:count]
    out = []
    for d in dicts:
        x = mapper(copy.deepcopy(d))
        if not with_instances:
            x = {"image": x["image"], "height": x["height"], "width": x["width"]}
        out.append(x)
    return out


def bench_inference(models, images, args):
    counter = {name: 0 for name in models}

    def runner(name):
        model = models[name]

        def run():
            with torch.no_grad():
                model([images[counter[name] % len(images)]])
            counter[name] += 1

        return run

    for model in models.values():
        model.eval()
    return alternate({name: runner(name) for name in models}, args.infer_reps, args.warmup)


def bench_training(models, batch, lr, args):
    optimizers = {
        name: torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
        for name, model in models.items()
    }

    def runner(name):
        model, optimizer = models[name], optimizers[name]

        def run():
            losses = model(batch)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return run

    for model in models.values():
        model.train()
    with EventStorage():
        return alternate({name: runner(name) for name in models}, args.train_reps, args.warmup)


def bench_assignment(d2_model, args):
    generator = FCOSTargetGenerator(num_classes=80)
    features = [torch.zeros(1, 1, h, w) for h, w in ASSIGN_SHAPES]
    anchors = d2_model.anchor_generator(features)
    d2_model.num_classes = 80
    rng = np.random.default_rng(args.seed)
    results = {}
    for num_boxes in args.assign_boxes:
        # Boxes of log-uniform size 8-800 px and aspect ratio 1:3-3:1 inside the image.
        gt = [random_instances(num_boxes, rng, ASSIGN_IMAGE, 80, sizes=(8, 800))]
        times = alternate(
            {
                "ours": lambda: generator(ASSIGN_SHAPES, STRIDES, gt),
                "d2_match_anchors": lambda: d2_model.match_anchors(anchors, gt),
                "d2_label_anchors": lambda: d2_model.label_anchors(anchors, gt),
            },
            args.assign_reps,
            args.warmup,
        )
        positives = int((generator(ASSIGN_SHAPES, STRIDES, gt).labels < 80).sum())
        d2_positives = int((d2_model.match_anchors(anchors, gt)[0] >= 0).sum())
        results[num_boxes] = {
            **{name: summary(t) for name, t in times.items()},
            "paired_ratio_vs_match_anchors": paired_ratio(times, "ours", "d2_match_anchors"),
            "positives": {"ours": positives, "d2": d2_positives},
        }
    return results


def ratio(ours: Dict[str, float], theirs: Dict[str, float]) -> float:
    return ours["median_ms"] / theirs["median_ms"]


def main(argv=None):
    args = parse_args(argv)
    logging.getLogger("detectron2").setLevel(logging.WARNING)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    ours_cfg, ours = build(OURS_CONFIG, args.ours_weights, args.seed)
    d2_cfg, d2 = build(D2_CONFIG, args.d2_weights, args.seed)
    models = {"ours": ours, "d2": d2}
    train_batch = args.train_batch or ours_cfg.dataloader.train.total_batch_size
    assert train_batch == (args.train_batch or d2_cfg.dataloader.train.total_batch_size)

    val_images = mapped_images(ours_cfg, "anchorfree_shapes_val", 8, with_instances=False)
    train_images = mapped_images(
        ours_cfg, "anchorfree_shapes_train", train_batch, with_instances=True
    )

    print(f"inference: {args.infer_reps} images each, after {args.warmup} warm-up ...", flush=True)
    inference_times = bench_inference(models, val_images, args)
    inference = {name: summary(t) for name, t in inference_times.items()}
    print(f"training: {args.train_reps} iterations of batch {train_batch} each ...", flush=True)
    training_times = bench_training(models, train_images, ours_cfg.optimizer.lr, args)
    training = {name: summary(t) for name, t in training_times.items()}
    print("target assignment ...", flush=True)
    _, d2_fresh = build(D2_CONFIG, "", args.seed)
    assignment = bench_assignment(d2_fresh, args)

    rows = [
        ("inference latency, 1 image", inference["ours"], inference["d2"], "FCOS forward"),
        (
            f"training iteration, batch {train_batch}",
            training["ours"],
            training["d2"],
            "FCOS forward+backward+step",
        ),
    ]
    for num_boxes, r in assignment.items():
        rows.append(
            (
                f"targets, {num_boxes} boxes @800x1333",
                r["ours"],
                r["d2_match_anchors"],
                "match_anchors",
            )
        )
        rows.append(
            (
                f"targets, {num_boxes} boxes @800x1333",
                r["ours"],
                r["d2_label_anchors"],
                "label_anchors",
            )
        )
    print()
    header = (
        f"{'measure':<34} {'ours (ms)':>10} {'Detectron2 (ms)':>16} {'ratio':>6}  Detectron2 op"
    )
    print(header)
    print("-" * len(header))
    for name, a, b, op in rows:
        print(
            f"{name:<34} {a['median_ms']:>10.2f} {b['median_ms']:>16.2f} {ratio(a, b):>6.2f}  {op}"
        )
    print("(medians; ratio = ours / Detectron2, lower is faster)")
    print(
        f"paired per-repetition ratios: inference "
        f"{paired_ratio(inference_times, 'ours', 'd2'):.3f}, training "
        f"{paired_ratio(training_times, 'ours', 'd2'):.3f}"
    )

    report = {
        "environment": environment(),
        "configs": {
            "ours": os.path.relpath(OURS_CONFIG, REPO),
            "d2": os.path.relpath(D2_CONFIG, REPO),
        },
        "weights": {
            "ours": args.ours_weights or "random init",
            "d2": args.d2_weights or "random init",
        },
        "inference_latency": {
            **inference,
            "ratio": ratio(inference["ours"], inference["d2"]),
            "paired_ratio": paired_ratio(inference_times, "ours", "d2"),
        },
        "training_iteration": {
            **training,
            "batch": train_batch,
            "ratio": ratio(training["ours"], training["d2"]),
        },
        "target_assignment_800x1333": {
            str(n): {
                **r,
                "ratio_vs_match_anchors": ratio(r["ours"], r["d2_match_anchors"]),
                "ratio_vs_label_anchors": ratio(r["ours"], r["d2_label_anchors"]),
            }
            for n, r in assignment.items()
        },
    }
    return write_json_report(report, args.out, argv)


if __name__ == "__main__":
    main()
