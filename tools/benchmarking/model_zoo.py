"""
The suite ``model-zoo``: CPU (and CUDA where present) latency of the configs that the converted
official checkpoints fit (the README's model-zoo table), side by side in one run: one
``--zoo-size`` square image (512) through the whole model as ``DefaultPredictor`` runs it (the
config's test pipeline, which may resize it, network, decoding, back to image coordinates),
median of ``--reps`` after ``--warmup``, the models alternating within each repetition so that
machine load affects them alike.

The weights are random (the default initialization): latency depends on them only through the
number of candidates that pass the score thresholds before NMS, which is small for both random
and trained weights next to the network's cost. Writes ``<output>/benchmark_model-zoo.json``.
"""

import os
from typing import Dict

import numpy as np
import torch

import anchorfree  # noqa: F401
from anchorfree.config import get_predictor_cfg
from anchorfree.engine import Predictor

from .timing import alternate, environment, summary, with_defaults, write_json_report

# name in the README's model-zoo table -> config (relative to the repository root)
CONFIGS = {
    "CenterNet DLA-34": "configs/CenterNet/centernet_dla34_2x.py",
    "CenterNet ResNet-18-DCN": "configs/CenterNet/centernet_R_18_140e.py",
    "CenterNet ResNet-101-DCN": "configs/CenterNet/centernet_R_101_dcn_140e.py",
    "CenterNet Hourglass-104": "configs/CenterNet/centernet_hourglass104.py",
    "CornerNet Hourglass-104": "configs/CornerNet/cornernet_hourglass104.py",
    "FCOS R-50-FPN": "configs/FCOS/fcos_imprv_R_50_FPN_1x_tianzhi.py",
    "FCOS R-101-FPN": "configs/FCOS/fcos_imprv_R_101_FPN_2x_tianzhi.py",
    "FCOS X-101-32x8d-FPN": "configs/FCOS/fcos_imprv_X_101_32x8d_FPN_2x_tianzhi.py",
    "FCOS X-101-64x4d-FPN": "configs/FCOS/fcos_imprv_X_101_64x4d_FPN_2x_tianzhi.py",
}

DEFAULTS = {"reps": 5, "warmup": 1, "zoo_size": 512}


def _predictor(config: str, device: str) -> Predictor:
    torch.manual_seed(0)
    return Predictor(
        get_predictor_cfg(
            config,
            [f"train.device={device}", "train.init_checkpoint=''"],
            allow_random_weights=True,
        )
    )


def run(args) -> Dict[str, object]:
    args = with_defaults(args, DEFAULTS)
    rng = np.random.default_rng(args.seed)
    image = rng.integers(0, 256, (args.zoo_size, args.zoo_size, 3), dtype=np.uint8)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {
        "environment": environment(),
        "threads": torch.get_num_threads(),
        "reps": args.reps,
        "warmup": args.warmup,
        "size": args.zoo_size,
        "devices": {},
    }
    for device in devices:
        predictors = {name: _predictor(config, device) for name, config in CONFIGS.items()}
        times = alternate(
            {name: (lambda p=p: p(image)) for name, p in predictors.items()},  # noqa: B023
            args.reps,
            args.warmup,
            device=device,
            progress=True,
        )
        results["devices"][device] = {
            name: {"config": CONFIGS[name], **summary(t)} for name, t in times.items()
        }
        for name, entry in results["devices"][device].items():
            print(f"{device} {name}: {entry['median_ms']:.0f} ms", flush=True)
    write_json_report(results, os.path.join(args.output, "benchmark_model-zoo.json"))
    return results
