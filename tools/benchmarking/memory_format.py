"""
The ``memory-format`` suite: each from-scratch CPU recipe (the detectors of ``zoo.DETECTORS``
and the demo's config) trained and run with its convolution weights in the default and in the
channels-last memory format (``train.channels_last``), side by side in one process: the same
weights, the same batches of the recipe's training loader, the two formats alternating within
each round (``timing.alternate``). Reports seconds per training iteration and per single-image
inference of each format and their paired ratio (channels-last / default: below 1 is faster).
Writes ``<output>/benchmark_memory-format.json``.
"""

import copy
import itertools
import os
from typing import Callable, Dict, Iterator, List

import torch

from .timing import alternate, environment, paired_ratio, summary, with_defaults, write_json_report
from .zoo import REPO, select

DEFAULTS = {"reps": 10, "warmup": 2, "infer_reps": 20}
DEMO_CONFIG = "configs/FCOS/fcos_narrow_FPN_shapes_demo.py"
FORMATS = ("default", "channels_last")


def recipe_batches(cfg, count: int) -> List[list]:
    """The first ``count`` batches of ``cfg``'s training loader."""
    from detectron2.config import instantiate

    return list(itertools.islice(instantiate(cfg.dataloader.train), count))


def recipe_training_step(
    cfg, model: torch.nn.Module, batches: Iterator[list]
) -> Callable[[], None]:
    """One training iteration of ``model`` with ``cfg``'s optimizer per call, on the next batch
    of ``batches``."""
    from detectron2.config import instantiate

    cfg = copy.deepcopy(cfg)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)

    def step():
        losses = model(next(batches))
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()

    return step


def measure_config(config: str, args) -> Dict[str, object]:
    """Training and inference times of ``config``'s model in both formats."""
    import anchorfree.data  # noqa: F401  (registers the embedded dataset)
    from anchorfree.config import load_config
    from anchorfree.engine.device import place_model

    from detectron2.config import instantiate
    from detectron2.utils.events import EventStorage

    cfg = load_config(os.path.join(REPO, config), ["train.device=cpu"])
    torch.manual_seed(args.seed)
    model = instantiate(cfg.model)
    models = {
        "default": place_model(model, "cpu"),
        "channels_last": place_model(copy.deepcopy(model), "cpu", channels_last=True),
    }
    batches = recipe_batches(cfg, args.reps + args.warmup)
    steps = {
        name: recipe_training_step(cfg, m.train(), itertools.cycle(batches))
        for name, m in models.items()
    }
    with EventStorage():
        training = alternate(steps, args.reps, args.warmup, progress=True)

    images = [{"image": x["image"]} for x in batches[0]]
    image_cycle = {name: itertools.cycle(images) for name in models}

    def infer(name):
        def call():
            with torch.no_grad():
                models[name]([next(image_cycle[name])])

        return call

    for m in models.values():
        m.eval()
    inference = alternate({n: infer(n) for n in models}, args.infer_reps, args.warmup)
    return {
        "batch": cfg.dataloader.train.total_batch_size,
        "training_iteration": {n: summary(training[n]) for n in FORMATS},
        "training_ratio": paired_ratio(training, "channels_last", "default"),
        "inference": {n: summary(inference[n]) for n in FORMATS},
        "inference_ratio": paired_ratio(inference, "channels_last", "default"),
    }


def markdown(results: Dict[str, dict]) -> str:
    lines = [
        "| config | training iteration, default / channels-last (ms) | ratio "
        "| inference, 1 image, default / channels-last (ms) | ratio |",
        "|---|---|---|---|---|",
    ]
    for config, r in results.items():
        train, infer = r["training_iteration"], r["inference"]
        lines.append(
            f"| `{config}` | {train['default']['median_ms']:.0f} / "
            f"{train['channels_last']['median_ms']:.0f} | {r['training_ratio']:.2f}x "
            f"| {infer['default']['median_ms']:.1f} / {infer['channels_last']['median_ms']:.1f} "
            f"| {r['inference_ratio']:.2f}x |"
        )
    return "\n".join(lines)


def run(args) -> dict:
    """Run the suite; returns the report, written to ``<output>/benchmark_memory-format.json``."""
    args = with_defaults(args, DEFAULTS)
    configs = [d.config for d in select(args.only)] + ([] if args.only else [DEMO_CONFIG])
    results = {}
    for config in configs:
        print(f"{config}: {args.reps} training iterations per format ...", flush=True)
        results[config] = measure_config(config, args)
    table = markdown(results)
    print(table)
    report = {"environment": environment(), "configs": results, "table": table}
    return write_json_report(report, os.path.join(args.output, "benchmark_memory-format.json"))
