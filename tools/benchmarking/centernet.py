#!/usr/bin/env python
"""
anchorfree.centernet measured against what the issue asks (prints a table, writes JSON):

1. Target generation for 10/100/500 objects on a 512x512 input (128x128 output grid, 80
   classes, a COCO-like size mix: 41% small, 34% medium, 25% large boxes, aspect ratios 1:3 to
   3:1): our batched ``CenterNetTargetGenerator`` against straightforward per-object Python
   loops written from the paper (radius, Gaussian window, size, offset and index per object),
   one on NumPy arrays (as the original data pipeline draws, CPU only) and the same on torch
   tensors (as one writes it for tensors on any device). The heatmaps of all three are checked
   to agree (to float rounding), and the regression targets to be equal.
   Asked: 500 objects cost <= 2x what 10 cost, and >= 5x faster than the loop at 500.
2. Decode share: the time of turning head outputs into detections (clamped sigmoid, 3x3
   max-pool peaks, top-100, boxes) over the time of the whole forward pass, at 512x512.
   Asked: <= 5%.
3. Inference latency at 512x512 (one random image, random initialization, warm-up then the
   median; the models alternate within each repetition): CenterNet R-18 (paper, deformable
   convs) and R-50-FPN-P2, our FCOS R-50-FPN and Detectron2's RetinaNet R-50-FPN.
4. "No NMS needed": AP on the embedded validation set of a model trained with
   configs/CenterNet/centernet_R_18_shapes.py (``--centernet-weights``), decoded without and
   with class-aware NMS from the same forward passes. Skipped without ``--centernet-weights``.

Options: ``--centernet-weights``, ``--reps`` (10), ``--warmup`` (2), ``--target-reps`` (30),
``--target-boxes`` (10 100 500), ``--seed``; writes ``<output>/benchmark_centernet.json``.
"""

import copy
import math
import os
import statistics
import tempfile
from typing import Dict, List

import numpy as np
import torch
from tqdm import tqdm

from anchorfree.centernet import CenterNetTargetGenerator

from detectron2.config import instantiate
from detectron2.evaluation import COCOEvaluator
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances

from .models import build, inference_times
from .timing import alternate, environment, with_defaults, write_json_report

INPUT_SIZE = 512
STRIDE = 4
NUM_CLASSES = 80
# Published CenterNet settings (the generator's defaults).
MIN_OVERLAP = 0.7
# COCO's share of small (< 32^2 px), medium and large objects; square-root areas drawn
# uniformly within each bucket, up to most of the 512 px image.
SIZE_BUCKETS = [(0.41, 4.0, 32.0), (0.34, 32.0, 96.0), (0.25, 96.0, 480.0)]
LATENCY_CONFIGS = {
    "CenterNet R-18 DCN (paper)": "configs/CenterNet/centernet_R_18_140e.py",
    "CenterNet R-50-FPN-P2": "configs/CenterNet/centernet_R_50_FPN_1x.py",
    "FCOS R-50-FPN (ours)": "configs/FCOS/fcos_imprv_R_50_FPN_1x.py",
    "RetinaNet R-50-FPN (Detectron2)": "configs/baselines/retinanet_R_50_FPN_1x.py",
}
SHAPES_CONFIG = "configs/CenterNet/centernet_R_18_shapes.py"


DEFAULTS = {"reps": 10, "warmup": 2, "target_reps": 30, "target_boxes": [10, 100, 500]}


def median_ms(times: List[float]) -> float:
    return 1000 * statistics.median(times)


# ------------------------------------------------------------------------------------------
# 1. Target generation
# ------------------------------------------------------------------------------------------


def coco_like_instances(num_objects: int, rng: np.random.Generator) -> Instances:
    shares = [b[0] for b in SIZE_BUCKETS]
    bucket = rng.choice(len(SIZE_BUCKETS), size=num_objects, p=shares)
    low = np.array([b[1] for b in SIZE_BUCKETS])[bucket]
    high = np.array([b[2] for b in SIZE_BUCKETS])[bucket]
    side = rng.uniform(low, high)
    aspect = np.exp(rng.uniform(np.log(1 / 3), np.log(3), num_objects))
    w = np.minimum(side * np.sqrt(aspect), INPUT_SIZE)
    h = np.minimum(side / np.sqrt(aspect), INPUT_SIZE)
    x0 = rng.uniform(0, INPUT_SIZE - w)
    y0 = rng.uniform(0, INPUT_SIZE - h)
    inst = Instances((INPUT_SIZE, INPUT_SIZE))
    boxes = np.stack([x0, y0, x0 + w, y0 + h], axis=1)
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    inst.gt_classes = torch.tensor(rng.integers(0, NUM_CLASSES, num_objects))
    return inst


def paper_radius(h: float, w: float, t: float) -> float:
    """The radius of the original CenterNet code (see anchorfree.modeling.gaussian_targets),
    for one box: the smallest root of three quadratics, each divided by 2."""
    b1, c1 = h + w, w * h * (1 - t) / (1 + t)
    b2, c2 = 2 * (h + w), (1 - t) * w * h
    a3, b3, c3 = 4 * t, -2 * t * (h + w), (t - 1) * w * h
    r1 = (b1 + math.sqrt(b1 * b1 - 4 * c1)) / 2
    r2 = (b2 + math.sqrt(b2 * b2 - 16 * c2)) / 2
    r3 = (b3 + math.sqrt(b3 * b3 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def loop_targets(inst: Instances, output_size, num_classes: int, lib=np):
    """One object at a time, as the paper describes it, on NumPy arrays (``lib=np``) or torch
    tensors (``lib=torch``). Same-cell rule as the generator's: the smallest box keeps the size
    and offset target."""
    height, width = output_size
    heatmap = lib.zeros((num_classes, height, width), dtype=lib.float32)
    regressed = {}
    for index, (box, c) in enumerate(zip(inst.gt_boxes.tensor.tolist(), inst.gt_classes.tolist())):
        x0, y0, x1, y1 = (v / STRIDE for v in box)
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ix, iy = int(cx), int(cy)
        r = max(0, int(paper_radius(h, w, MIN_OVERLAP)))
        sigma = (2 * r + 1) / 6
        d = lib.arange(-r, r + 1, dtype=lib.float32)
        gaussian = lib.exp(-(d[None, :] ** 2 + d[:, None] ** 2) / (2 * sigma * sigma))
        top, bottom = min(iy, r), min(height - iy, r + 1)
        left, right = min(ix, r), min(width - ix, r + 1)
        window = heatmap[c, iy - top : iy + bottom, ix - left : ix + right]
        lib.maximum(window, gaussian[r - top : r + bottom, r - left : r + right], out=window)
        cell = iy * width + ix
        if cell not in regressed or w * h < regressed[cell][0]:
            regressed[cell] = (w * h, [w, h], [cx - ix, cy - iy])
    return heatmap, regressed


def bench_targets(args) -> Dict[str, Dict[str, float]]:
    generator = CenterNetTargetGenerator(num_classes=NUM_CLASSES, min_overlap=MIN_OVERLAP)
    output_size = (INPUT_SIZE // STRIDE, INPUT_SIZE // STRIDE)
    rng = np.random.default_rng(args.seed)
    results = {}
    for num_objects in tqdm(args.target_boxes, desc="target generation"):
        gt = [coco_like_instances(num_objects, rng)]
        ours = generator(output_size, STRIDE, gt)
        max_diff = 0.0
        for lib in (np, torch):
            heatmap, regressed = loop_targets(gt[0], output_size, NUM_CLASSES, lib)
            diff = float((ours.heatmaps[0] - torch.as_tensor(heatmap)).abs().max())
            assert diff <= 1e-6, (
                f"heatmaps of the batched and the {lib.__name__} loop differ by {diff}"
            )
            max_diff = max(max_diff, diff)
            assert sorted(ours.cells.tolist()) == sorted(regressed)
            order = ours.cells.argsort()
            expected = [regressed[c] for c in sorted(regressed)]
            np.testing.assert_allclose(ours.wh[order].numpy(), [e[1] for e in expected], rtol=1e-5)
            np.testing.assert_allclose(
                ours.offset[order].numpy(), [e[2] for e in expected], atol=1e-5
            )
        times = alternate(
            {
                "batched": lambda: generator(output_size, STRIDE, gt),
                "numpy_loop": lambda: loop_targets(gt[0], output_size, NUM_CLASSES, np),
                "torch_loop": lambda: loop_targets(gt[0], output_size, NUM_CLASSES, torch),
            },
            args.target_reps,
            args.warmup,
            progress=True,
        )
        batched = median_ms(times["batched"])
        results[str(num_objects)] = {
            "batched_ms": batched,
            "numpy_loop_ms": median_ms(times["numpy_loop"]),
            "torch_loop_ms": median_ms(times["torch_loop"]),
            "speedup_vs_numpy_loop": median_ms(times["numpy_loop"]) / batched,
            "speedup_vs_torch_loop": median_ms(times["torch_loop"]) / batched,
            "heatmap_max_abs_diff": max_diff,
            "heatmaps_bitwise_identical": max_diff == 0.0,
        }
    first = results[str(args.target_boxes[0])]["batched_ms"]
    for r in results.values():
        r["cost_vs_fewest_objects"] = r["batched_ms"] / first
    return results


# ------------------------------------------------------------------------------------------
# 2, 3. Decode share and latency
# ------------------------------------------------------------------------------------------


def random_image(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, INPUT_SIZE, INPUT_SIZE), generator=generator).float()


def bench_latency(args) -> Dict[str, float]:
    models = {name: build(config, seed=args.seed)[1] for name, config in LATENCY_CONFIGS.items()}
    inputs = [{"image": random_image(args.seed)}]
    times = inference_times(models, inputs, args.reps, args.warmup, progress=True)
    return {name: median_ms(t) for name, t in times.items()}


def bench_decode_share(args) -> Dict[str, Dict[str, float]]:
    """Whole forward pass against the decoding steps alone, on the same predictions."""
    results = {}
    for name in ["CenterNet R-18 DCN (paper)", "CenterNet R-50-FPN-P2"]:
        _, model = build(LATENCY_CONFIGS[name], seed=args.seed)
        model.eval()
        inputs = [{"image": random_image(args.seed)}]
        with torch.no_grad():
            images = model.preprocess_image(inputs)
            outputs = model.forward_raw(images)

        def forward():
            with torch.no_grad():
                model(inputs)

        def decode():
            with torch.no_grad():
                (result,) = model.decode(outputs, images.image_sizes)
                detector_postprocess(result, INPUT_SIZE, INPUT_SIZE)

        times = alternate(
            {"forward": forward, "decode": decode}, args.reps, args.warmup, progress=True
        )
        results[name] = {
            "forward_ms": median_ms(times["forward"]),
            "decode_ms": median_ms(times["decode"]),
            "decode_share": median_ms(times["decode"]) / median_ms(times["forward"]),
        }
    return results


# ------------------------------------------------------------------------------------------
# 4. AP with and without NMS
# ------------------------------------------------------------------------------------------


def bench_nms(args) -> Dict[str, Dict[str, float]]:
    cfg, model = build(SHAPES_CONFIG, args.centernet_weights, args.seed)
    model.eval()
    loader = instantiate(cfg.dataloader.test)
    dataset = cfg.dataloader.test.dataset.names
    decoders = {
        "no NMS (paper)": model.postprocessor,
        "class-aware NMS 0.5": copy.copy(model.postprocessor),
    }
    decoders["class-aware NMS 0.5"].nms = True
    decoders["class-aware NMS 0.5"].nms_thresh = 0.5
    output_dir = tempfile.mkdtemp()
    evaluators = {name: COCOEvaluator(dataset, output_dir=output_dir) for name in decoders}
    for evaluator in evaluators.values():
        evaluator.reset()
    with torch.no_grad():
        for batch in tqdm(loader, desc="AP with/without NMS", total=len(loader)):
            images = model.preprocess_image(batch)
            outputs = model.forward_raw(images, flip=model.flip_test)
            for name, decoder in decoders.items():
                model.postprocessor = decoder
                results = model.decode(outputs, images.image_sizes, flip=model.flip_test)
                evaluators[name].process(
                    batch,
                    [
                        {"instances": detector_postprocess(r, x["height"], x["width"])}
                        for r, x in zip(results, batch)
                    ],
                )
    model.postprocessor = decoders["no NMS (paper)"]
    return {
        name: {k: v for k, v in evaluator.evaluate()["bbox"].items() if k in ("AP", "AP50", "AP75")}
        for name, evaluator in evaluators.items()
    }


def run(args) -> dict:
    """Run the suite; returns the report, written to ``<output>/benchmark_centernet.json``."""
    args = with_defaults(args, DEFAULTS)

    targets = bench_targets(args)
    decode = bench_decode_share(args)
    latency = bench_latency(args)
    nms = bench_nms(args) if args.centernet_weights else None

    print(f"\n1. Target generation, {INPUT_SIZE}x{INPUT_SIZE}, {NUM_CLASSES} classes (medians)")
    print(
        f"{'objects':>8} {'batched (ms)':>13} {'vs fewest':>10} {'numpy loop':>11} "
        f"{'speed-up':>9} {'torch loop':>11} {'speed-up':>9}"
    )
    for n, r in targets.items():
        print(
            f"{n:>8} {r['batched_ms']:>13.2f} {r['cost_vs_fewest_objects']:>9.2f}x "
            f"{r['numpy_loop_ms']:>11.2f} {r['speedup_vs_numpy_loop']:>8.2f}x "
            f"{r['torch_loop_ms']:>11.2f} {r['speedup_vs_torch_loop']:>8.2f}x"
        )
    heatmap_diff = max(r["heatmap_max_abs_diff"] for r in targets.values())
    print(f"heatmaps agree with both loops to {heatmap_diff:.1e}")
    print(f"\n2. Decode share of the forward pass, {INPUT_SIZE}x{INPUT_SIZE}")
    for name, r in decode.items():
        print(
            f"{name:<32} forward {r['forward_ms']:8.1f} ms, decode {r['decode_ms']:6.2f} ms "
            f"({100 * r['decode_share']:.2f}%)"
        )
    print(f"\n3. Inference latency, {INPUT_SIZE}x{INPUT_SIZE}, random init (medians)")
    for name, ms in latency.items():
        print(f"{name:<32} {ms:8.1f} ms")
    print("\n4. AP on anchorfree_shapes_val without and with NMS")
    if nms is None:
        print(
            "skipped: no --centernet-weights "
            "(train configs/CenterNet/centernet_R_18_shapes.py first)"
        )
    else:
        for name, r in nms.items():
            print(f"{name:<32} AP {r['AP']:.2f}  AP50 {r['AP50']:.2f}  AP75 {r['AP75']:.2f}")

    report = {
        "environment": {**environment(), "device": "cpu"},
        "target_generation": targets,
        "decode_share": decode,
        "latency_ms": latency,
        "ap_without_and_with_nms": nms if nms is not None else "skipped: no --centernet-weights",
        "weights": args.centernet_weights or None,
    }
    return write_json_report(report, os.path.join(args.output, "benchmark_centernet.json"))
