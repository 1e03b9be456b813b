"""
The suite ``export``: each detector's exported graph (``anchorfree.export``) run eagerly in
PyTorch, as TorchScript and in ONNX Runtime, side by side in one run, on the CPU (and with the
CUDA execution provider where CUDA is available):

* latency of one image through the whole graph (normalization, padding, network, decoding;
  CornerNet's post-step, its soft-NMS ``select``, included in every runtime), at
  ``--export-sizes`` (H = W), median of ``--reps`` after ``--warmup``, the runtimes alternating
  within each repetition so that machine load affects them alike;
* the decode share: the part of the eager time after the network (the eager graph against
  the same graph stopped after the network);
* the ratios TorchScript / eager and ONNX Runtime / eager (the issue's goal: ONNX Runtime
  <= 0.7x eager).

Models: the configs of ``--export-configs`` (default: the three shapes configs of the tests)
with random weights (default initialization), FCOS decoding every candidate
(``score_thresh=0``, its decoding's worst case: a random FCOS scores below its threshold).
Threads: torch's and ONNX Runtime's intra-op threads are both ``torch.get_num_threads()``
(``--threads``). Writes ``<output>/benchmark_export.json``.
"""

import os
import tempfile
from typing import Callable, Dict, List

import torch

import anchorfree  # noqa: F401
import anchorfree.data  # noqa: F401
from anchorfree.config import load_config
from anchorfree.cornernet import CornerCandidates
from anchorfree.export import ExportableDetector, ExportedPredictor, export_detector

from detectron2.config import instantiate

from .timing import alternate, environment, paired_ratio, summary, with_defaults, write_json_report

CONFIGS = {
    "fcos": (
        "configs/FCOS/fcos_narrow_FPN_shapes_demo.py",
        ["model.postprocessor.score_thresh=0.0"],
    ),
    "centernet": ("configs/CenterNet/centernet_narrow_FPN_P2_shapes_demo.py", []),
    "cornernet": ("configs/CornerNet/cornernet_hourglass_small_shapes.py", []),
}
GOAL_ONNX_TO_EAGER = 0.7
DEFAULTS = {"reps": 20, "warmup": 3, "export_sizes": [320, 512], "export_configs": list(CONFIGS)}


def _runtimes(slug: str, workdir: str) -> Dict[str, Callable]:
    """Per runtime, a function of one ``[3, H, W]`` image that returns its detections."""
    config, overrides = CONFIGS[slug]
    cfg = load_config(config, overrides)
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    graph = ExportableDetector(model)
    predictors = {}
    for export_format in ("torchscript", "onnx"):
        directory = os.path.join(workdir, slug, export_format)
        export_detector(cfg, model, export_format, directory)
        predictors[export_format] = ExportedPredictor(directory, threads=torch.get_num_threads())
    if torch.cuda.is_available():
        predictors["onnx_cuda"] = ExportedPredictor(
            os.path.join(workdir, slug, "onnx"), providers=["CUDAExecutionProvider"]
        )
    post_step = predictors["onnx"].post_step

    def eager(image):
        with torch.no_grad():
            boxes, scores, classes = graph(image)
        if post_step is not None:
            return post_step(CornerCandidates(boxes, scores, classes), tuple(image.shape[-2:]))
        return boxes, scores, classes

    def eager_network(image):  # the eager graph stopped after the network
        with torch.no_grad():
            return graph.raw_outputs(image)

    runtimes = {"eager": eager, "eager_network": eager_network}
    runtimes.update({name: predictor.detections for name, predictor in predictors.items()})
    return runtimes


def measure(slug: str, sizes: List[int], args, workdir: str) -> Dict[str, object]:
    runtimes = _runtimes(slug, workdir)
    results = {}
    for size in sizes:
        image = torch.rand(3, size, size, generator=torch.Generator().manual_seed(size)) * 255
        times = alternate(
            {name: (lambda fn=fn: fn(image)) for name, fn in runtimes.items()},
            args.reps,
            args.warmup,
        )
        entry = {name: summary(t) for name, t in times.items()}
        # Paired within each repetition, as the ratios: robust to load drifting between them.
        entry["decode_share_eager"] = 1.0 - paired_ratio(times, "eager_network", "eager")
        entry["torchscript_to_eager"] = paired_ratio(times, "torchscript", "eager")
        entry["onnx_to_eager"] = paired_ratio(times, "onnx", "eager")
        entry["onnx_goal_met"] = entry["onnx_to_eager"] <= GOAL_ONNX_TO_EAGER
        results[str(size)] = entry
        print(
            f"{slug} {size}x{size}: eager {entry['eager']['median_ms']:.1f} ms (decode "
            f"{100 * entry['decode_share_eager']:.0f}%), TorchScript "
            f"{entry['torchscript']['median_ms']:.1f} ms ({entry['torchscript_to_eager']:.2f}x), "
            f"ONNX Runtime {entry['onnx']['median_ms']:.1f} ms ({entry['onnx_to_eager']:.2f}x)",
            flush=True,
        )
    return results


def run(args) -> Dict[str, object]:
    args = with_defaults(args, DEFAULTS)
    with tempfile.TemporaryDirectory() as workdir:
        results = {
            "environment": environment(),
            "threads": torch.get_num_threads(),
            "reps": args.reps,
            "warmup": args.warmup,
            "goal_onnx_to_eager": GOAL_ONNX_TO_EAGER,
            "detectors": {
                slug: measure(slug, args.export_sizes, args, workdir)
                for slug in args.export_configs
            },
        }
    write_json_report(results, os.path.join(args.output, "benchmark_export.json"))
    return results
