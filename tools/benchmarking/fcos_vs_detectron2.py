"""
The suite ``fcos-vs-detectron2``: anchorfree.fcos against Detectron2's built-in FCOS, side by side
in one run, on the same backbone (ResNet-18 + FPN at 128 channels, 2-conv GroupNorm head), input and
data: the two ``*_R_18_FPN_shapes.py`` configs (configs/FCOS/ and configs/baselines/).

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

Options: ``--ours-weights``, ``--d2-weights``, ``--infer-reps`` (30), ``--train-reps`` (10),
``--train-batch``, ``--target-reps`` (30), ``--target-boxes`` (10 100 500), ``--warmup`` (3),
``--seed``; writes ``<output>/benchmark_fcos.json``.
"""

import os
from typing import Dict

import numpy as np
import torch

from anchorfree.fcos import FCOSTargetGenerator

from .models import REPO, build, inference_times, mapped_images, training_steps, training_times
from .timing import (
    alternate,
    environment,
    paired_ratio,
    random_instances,
    summary,
    with_defaults,
    write_json_report,
)

OURS_CONFIG = os.path.join(REPO, "configs", "FCOS", "fcos_R_18_FPN_shapes.py")
D2_CONFIG = os.path.join(REPO, "configs", "baselines", "fcos_R_18_FPN_shapes.py")
# P3-P7 of an 800x1333 image padded to 800x1344 (the FPN's size divisibility, 32).
ASSIGN_SHAPES = [(100, 168), (50, 84), (25, 42), (13, 21), (7, 11)]
ASSIGN_IMAGE = (800, 1333)
STRIDES = [8, 16, 32, 64, 128]


DEFAULTS = {
    "warmup": 3,
    "infer_reps": 30,
    "train_reps": 10,
    "train_batch": 0,
    "target_reps": 30,
    "target_boxes": [10, 100, 500],
}


def bench_assignment(d2_model, args):
    generator = FCOSTargetGenerator(num_classes=80)
    features = [torch.zeros(1, 1, h, w) for h, w in ASSIGN_SHAPES]
    anchors = d2_model.anchor_generator(features)
    d2_model.num_classes = 80
    rng = np.random.default_rng(args.seed)
    results = {}
    for num_boxes in args.target_boxes:
        # Boxes of log-uniform size 8-800 px and aspect ratio 1:3-3:1 inside the image.
        gt = [random_instances(num_boxes, rng, ASSIGN_IMAGE, 80, sizes=(8, 800))]
        times = alternate(
            {
                "ours": lambda: generator(ASSIGN_SHAPES, STRIDES, gt),
                "d2_match_anchors": lambda: d2_model.match_anchors(anchors, gt),
                "d2_label_anchors": lambda: d2_model.label_anchors(anchors, gt),
            },
            args.target_reps,
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


def run(args) -> dict:
    """Run the suite; returns the report, written to ``<output>/benchmark_fcos.json``."""
    args = with_defaults(args, DEFAULTS)
    ours_cfg, ours = build(OURS_CONFIG, args.ours_weights or "", args.seed)
    d2_cfg, d2 = build(D2_CONFIG, args.d2_weights or "", args.seed)
    models = {"ours": ours, "d2": d2}
    train_batch = args.train_batch or ours_cfg.dataloader.train.total_batch_size
    assert train_batch == (args.train_batch or d2_cfg.dataloader.train.total_batch_size)

    val_images = mapped_images(ours_cfg, "anchorfree_shapes_val", 8, with_instances=False)
    train_images = mapped_images(
        ours_cfg, "anchorfree_shapes_train", train_batch, with_instances=True
    )

    print(f"inference: {args.infer_reps} images each, after {args.warmup} warm-up ...", flush=True)
    latency = inference_times(models, val_images, args.infer_reps, args.warmup)
    inference = {name: summary(t) for name, t in latency.items()}
    print(f"training: {args.train_reps} iterations of batch {train_batch} each ...", flush=True)
    steps = training_steps(
        models, train_images, lr=ours_cfg.optimizer.lr, momentum=0.9, weight_decay=1e-4
    )
    training_runs = training_times(models, steps, args.train_reps, args.warmup)
    training = {name: summary(t) for name, t in training_runs.items()}
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
        f"{paired_ratio(latency, 'ours', 'd2'):.3f}, training "
        f"{paired_ratio(training_runs, 'ours', 'd2'):.3f}"
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
            "paired_ratio": paired_ratio(latency, "ours", "d2"),
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
    return write_json_report(report, os.path.join(args.output, "benchmark_fcos.json"))
