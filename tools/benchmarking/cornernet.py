"""
The suite ``cornernet``: anchorfree.cornernet timings (median over repetitions after warm-up):

* decoding against K (corners kept per corner type: 10, 50, 100, 200) on one image of
  Hourglass-104's output (a 128x128 grid, 80 classes; synthetic head outputs with 30 planted
  objects on a noisy background, see :func:`synthetic_predictions`): ``decode`` (peaks, top-K,
  the K x K pairing, best 1000 valid pairs) and the whole postprocessor with each suppression
  (Gaussian and linear soft-NMS, hard NMS);
* target generation for 10/100/500 random boxes on a 511x511 input (128x128 grid, 80 classes).

Inference latency of CornerNet side by side with the other detectors is the ``cost`` suite's.
Options: ``--decode-reps`` (20), ``--decode-k`` (10 50 100 200), ``--decode-objects`` (30),
``--target-reps`` (30), ``--target-boxes`` (10 100 500), ``--warmup`` (3), ``--seed``; writes
``<output>/benchmark_cornernet.json``.
"""

import os

import numpy as np
import torch

from anchorfree.cornernet import CornerNetPostprocessor, CornerNetTargetGenerator, CornerPredictions
from anchorfree.modeling.heatmap_loss import clamped_sigmoid

from .timing import (
    alternate,
    environment,
    random_instances,
    summary,
    time_calls,
    with_defaults,
    write_json_report,
)

GRID = (128, 128)  # Hourglass-104's output for a 511x511 (padded 512x512) input
STRIDE = 4
INPUT_SIZE = (511, 511)
NUM_CLASSES = 80
NMS_TYPES = ("soft_gaussian", "soft_linear", "hard")


DEFAULTS = {
    "warmup": 3,
    "decode_reps": 20,
    "decode_k": [10, 50, 100, 200],
    "decode_objects": 30,
    "target_reps": 30,
    "target_boxes": [10, 100, 500],
}


def synthetic_predictions(seed: int, num_objects: int) -> CornerPredictions:
    """Head outputs with ``num_objects`` planted objects (both corners at probability ~0.9,
    same class, embedding ``i`` for object ``i``) on a noisy background (logits N(-6, 1),
    embeddings uniform over the objects' range, so that some background corners pair up)."""
    generator = torch.Generator().manual_seed(seed)
    height, width = GRID
    shape = (1, NUM_CLASSES, height, width)
    predictions = CornerPredictions(
        tl_heatmap=torch.randn(shape, generator=generator) - 6.0,
        br_heatmap=torch.randn(shape, generator=generator) - 6.0,
        tl_embedding=torch.rand((1, 1, height, width), generator=generator) * num_objects,
        br_embedding=torch.rand((1, 1, height, width), generator=generator) * num_objects,
        tl_offset=torch.rand((1, 2, height, width), generator=generator),
        br_offset=torch.rand((1, 2, height, width), generator=generator),
    )
    classes = torch.randint(0, NUM_CLASSES, (num_objects,), generator=generator)
    tl_x = torch.randint(0, width // 2, (num_objects,), generator=generator)
    tl_y = torch.randint(0, height // 2, (num_objects,), generator=generator)
    br_x = tl_x + torch.randint(2, width // 2, (num_objects,), generator=generator)
    br_y = tl_y + torch.randint(2, height // 2, (num_objects,), generator=generator)
    embeddings = torch.arange(num_objects, dtype=torch.float32)
    for corner, xs, ys in (("tl", tl_x, tl_y), ("br", br_x, br_y)):
        getattr(predictions, f"{corner}_heatmap")[0, classes, ys, xs] = 2.2
        getattr(predictions, f"{corner}_embedding")[0, 0, ys, xs] = embeddings
    return predictions


def heatmap_probs(predictions: CornerPredictions) -> CornerPredictions:
    """What CornerNet hands its postprocessor: the heatmaps as clamped probabilities
    (``CornerNet.heatmap_probs`` at the default ``prob_clamp``)."""
    return predictions._replace(
        tl_heatmap=clamped_sigmoid(predictions.tl_heatmap.float()),
        br_heatmap=clamped_sigmoid(predictions.br_heatmap.float()),
    )


def bench_decoding(args):
    logits = synthetic_predictions(args.seed, args.decode_objects)
    results = {}
    for k in args.decode_k:
        decoder = CornerNetPostprocessor(topk=k)
        posts = {nms: CornerNetPostprocessor(topk=k, nms_type=nms) for nms in NMS_TYPES}
        # Timed from logits, the sigmoid included, as the model decodes.
        fns = {"decode": lambda: decoder.decode(heatmap_probs(logits), STRIDE)}
        for nms, post in posts.items():
            fns[f"decode+{nms}"] = lambda post=post: post(
                heatmap_probs(logits), STRIDE, [INPUT_SIZE]
            )
        times = alternate(fns, args.decode_reps, args.warmup)
        predictions = heatmap_probs(logits)
        (candidates,) = decoder.decode(predictions, STRIDE)
        results[k] = {
            **{name: summary(t) for name, t in times.items()},
            "valid_pairs_kept": len(candidates.scores),
            "detections": {
                nms: len(post(predictions, STRIDE, [INPUT_SIZE])[0]) for nms, post in posts.items()
            },
        }
    return results


def bench_targets(args):
    generator = CornerNetTargetGenerator(num_classes=NUM_CLASSES)
    rng = np.random.default_rng(args.seed)
    results = {}
    for num_boxes in args.target_boxes:
        # Boxes of log-uniform size 4-500 px and aspect ratio 1:3-3:1 inside the input.
        gt = [random_instances(num_boxes, rng, INPUT_SIZE, NUM_CLASSES, sizes=(4, 500))]
        results[num_boxes] = summary(
            time_calls(lambda: generator(GRID, STRIDE, gt), args.target_reps, args.warmup)
        )
    return results


def run(args) -> dict:
    """Run the suite; returns the report, written to ``<output>/benchmark_cornernet.json``."""
    args = with_defaults(args, DEFAULTS)

    print(f"decoding, K in {args.decode_k} ...", flush=True)
    decoding = bench_decoding(args)
    print(f"target generation, {args.target_boxes} boxes ...", flush=True)
    targets = bench_targets(args)

    columns = ["decode"] + [f"decode+{nms}" for nms in NMS_TYPES]
    print(f"\ndecoding, one {GRID[0]}x{GRID[1]} grid, {NUM_CLASSES} classes (median ms)")
    header = f"{'K':>5} " + " ".join(f"{c:>20}" for c in columns) + f" {'valid pairs':>12}"
    print(header)
    print("-" * len(header))
    for k, r in decoding.items():
        cells = " ".join(f"{r[c]['median_ms']:>20.2f}" for c in columns)
        print(f"{k:>5} {cells} {r['valid_pairs_kept']:>12}")

    print(f"\ntarget generation, {INPUT_SIZE[0]}x{INPUT_SIZE[1]} input (median ms)")
    for num_boxes, r in targets.items():
        print(f"  {num_boxes:>4} boxes {r['median_ms']:>9.2f}")

    report = {
        "environment": environment(),
        "decoding_128x128_80_classes": {str(k): r for k, r in decoding.items()},
        "target_generation_511x511": {str(n): r for n, r in targets.items()},
    }
    return write_json_report(report, os.path.join(args.output, "benchmark_cornernet.json"))
