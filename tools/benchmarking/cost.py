"""
The suites ``cost``, ``sizes`` and ``objects``: every detector of :mod:`.zoo` side by side, in
one process, on the same inputs, per device (CPU, and CUDA when present).

* ``cost``: parameters, and FLOPs of backbone + head at the benchmark input (fvcore);
  inference latency of the whole model (preprocessing to rescaled detections) on embedded
  validation images, the detectors alternating; decode share: the time of turning head outputs
  into detections (decoding, peak extraction, pairing, NMS), measured on the same predictions,
  over the latency; training iteration (forward, backward, SGD step) on one fixed batch of
  embedded training images; peak memory of an inference call and of a training iteration.
* ``sizes``: latency against square image size (``--sizes``).
* ``objects``: target generation and decode time against the number of objects
  (``--objects``): targets for random boxes on a 512x512 input, and decoding of predictions in
  which that many objects were planted (every other score set far below the threshold).

Decoding cost depends on how many candidates pass the score thresholds, so trained weights are
used where tools/train_accuracy.py left them (``<accuracy-dir>/<slug>/seed1/model_final.pth``)
and random initialization otherwise; the report says which.
"""

import logging
import os
from typing import Dict, Sequence

import numpy as np
import torch
from tqdm import tqdm

from detectron2.utils.events import EventStorage

from .adapters import adapter_for
from .models import build, inference_times, mapped_images, to_device, training_steps
from .models import training_times as time_training
from .timing import alternate, peak_memory_mib, random_instances, summary, time_calls, with_defaults
from .zoo import Detector, trained_weights

SUITES = ("cost", "sizes", "objects")
TARGET_IMAGE_SIZE = (512, 512)  # (H, W) of the target-generation and decode measurements
DEFAULTS = {"reps": 10, "warmup": 3, "train_reps": 5}


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


def count_flops(model, adapter, inputs) -> float:
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


def _cost(models, adapters, val_images, train_batch, results, args, device: str) -> None:
    reps, warmup = args.reps, args.warmup
    for slug, model in models.items():
        model.eval()
        results[slug]["parameters_M"] = sum(p.numel() for p in model.parameters()) / 1e6
        results[slug]["gflops"] = count_flops(model, adapters[slug], val_images[:1])

    latency = inference_times(models, val_images, reps, warmup, device)
    for slug, model in models.items():
        adapter = adapters[slug]
        results[slug]["latency"] = summary(latency[slug])
        with torch.no_grad():
            images, features, predictions = adapter.network(model, val_images[:1])
            decode_times = time_calls(
                lambda: adapter.decode(model, images, features, predictions), reps, warmup, device
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

    steps = training_steps(models, train_batch, lr=1e-4, momentum=0.9)
    training = time_training(models, steps, args.train_reps, 1, device)
    with EventStorage():
        for slug in models:
            results[slug]["train_iteration"] = {
                **summary(training[slug]),
                "batch": len(train_batch),
            }
            results[slug]["train_peak_MiB"] = peak_memory_mib(steps[slug], device)
    for model in models.values():
        model.eval()


def _sizes(models, val_images, results, args, device: str) -> None:
    by_size = {slug: {} for slug in models}
    for size in tqdm(args.sizes, desc=f"{device}: image sizes", leave=False):
        inputs = [resized(val_images[0]["image"], size)]
        with torch.no_grad():
            times = alternate(
                {s: (lambda m=models[s]: m(inputs)) for s in models},
                max(args.reps // 2, 3),
                1,
                device,
            )
        for slug in models:
            by_size[slug][str(size)] = summary(times[slug])
    for slug in models:
        results[slug]["latency_by_size"] = by_size[slug]


def _objects(models, adapters, results, args, device: str) -> None:
    reps = args.reps
    rng = np.random.default_rng(args.seed)
    blank = [
        {
            "image": torch.zeros(3, *TARGET_IMAGE_SIZE, dtype=torch.uint8, device=device),
            "height": TARGET_IMAGE_SIZE[0],
            "width": TARGET_IMAGE_SIZE[1],
        }
    ]
    blank_outputs = {}  # per detector: (images, features, predictions) of the blank input
    for slug, model in models.items():
        results[slug]["targets_by_objects"] = {}
        results[slug]["decode_by_objects"] = {}
        with torch.no_grad():
            blank_outputs[slug] = adapters[slug].network(model, blank)
    for num_objects in tqdm(args.objects, desc=f"{device}: objects", leave=False):
        for slug, model in models.items():
            adapter = adapters[slug]
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
                    time_calls(assign, reps, 1, device)
                )
                results[slug]["decode_by_objects"][str(num_objects)] = summary(
                    time_calls(
                        lambda: adapter.decode(model, images, features, planted), reps, 1, device
                    )
                )


def measure_device(
    detectors: Sequence[Detector], suites: Sequence[str], args, device: str
) -> Dict[str, dict]:
    """The measurements of ``suites`` (of :data:`SUITES`) of every detector on ``device``."""
    args = with_defaults(args, DEFAULTS)
    models, adapters, results, cfgs = {}, {}, {}, []
    for detector in detectors:
        weights = trained_weights(args.accuracy_dir, detector.slug)
        if not os.path.exists(weights):
            weights = ""
        cfg, models[detector.slug] = build(detector.config_path, weights, args.seed, device)
        cfgs.append(cfg)
        adapters[detector.slug] = adapter_for(detector.slug)
        results[detector.slug] = {"weights": weights or "random init", "config": detector.config}
    first_cfg = cfgs[0]
    val_images = to_device(mapped_images(first_cfg, "anchorfree_shapes_val", 8, False), device)
    progress = tqdm(total=len(suites), desc=f"{device}: {' '.join(suites)}", unit="suite")
    if "cost" in suites:
        batch_size = first_cfg.dataloader.train.total_batch_size
        train_batch = to_device(
            mapped_images(first_cfg, "anchorfree_shapes_train", batch_size, True), device
        )
        _cost(models, adapters, val_images, train_batch, results, args, device)
        progress.update()
    if "sizes" in suites:
        _sizes(models, val_images, results, args, device)
        progress.update()
    if "objects" in suites:
        _objects(models, adapters, results, args, device)
        progress.update()
    progress.close()
    return results
