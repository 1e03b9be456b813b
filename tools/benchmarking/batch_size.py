"""
The ``batch-size`` suite: the training cost of an image at several batch sizes (``--batches``,
default 8 4 2), for one CPU recipe (``--batch-config``, default the demo's config), side by side
in one process. Every batch size trains its own copy of the same initial weights with the
recipe's optimizer, on the recipe's training loader set to that batch size, in the recipe's
memory format (``train.channels_last``). A round trains every batch size on the same number of
images (the largest batch; ``largest / b`` iterations of batch ``b``), the batch sizes
alternating within each round (``timing.alternate``). Reports milliseconds per image and per
iteration of each batch size, and the paired ratio of its cost per image to the config's own
batch size's: what a user needs to trade batch size against iterations at a fixed number of
minutes. Writes ``<output>/benchmark_batch-size.json``.
"""

import copy
import itertools
import os
from typing import Callable, Dict, Iterator, List, Sequence

import torch

from .memory_format import DEMO_CONFIG, recipe_batches, recipe_training_step
from .timing import alternate, environment, paired_ratio, summary, with_defaults, write_json_report
from .zoo import REPO

DEFAULTS = {"reps": 5, "warmup": 1, "batches": [8, 4, 2], "batch_config": DEMO_CONFIG}


def images_per_round(batch_sizes: Sequence[int]) -> int:
    """The images of one round: the largest batch size, which every other must divide."""
    largest = max(batch_sizes)
    uneven = [b for b in batch_sizes if b <= 0 or largest % b]
    if uneven:
        raise ValueError(
            f"--batches must be positive divisors of the largest ({largest}); got {uneven}"
        )
    return largest


def round_of_steps(step: Callable[[], None], iterations: int) -> Callable[[], None]:
    """``iterations`` calls of ``step`` as one call."""

    def run_round():
        for _ in range(iterations):
            step()

    return run_round


def measure(config: str, batch_sizes: Sequence[int], args) -> Dict[str, object]:
    """Seconds per round of ``images_per_round(batch_sizes)`` images at every batch size."""
    import anchorfree.data  # noqa: F401  (registers the embedded dataset)
    from anchorfree.config import load_config
    from anchorfree.engine.device import place_model

    from detectron2.config import instantiate
    from detectron2.utils.events import EventStorage

    images = images_per_round(batch_sizes)
    cfg = load_config(os.path.join(REPO, config), ["train.device=cpu"])
    torch.manual_seed(args.seed)
    initial = instantiate(cfg.model)
    rounds: Dict[str, Callable[[], None]] = {}
    for b in batch_sizes:
        cfg_b = copy.deepcopy(cfg)
        cfg_b.dataloader.train.total_batch_size = b
        iterations = images // b
        batches: Iterator[list] = itertools.cycle(
            recipe_batches(cfg_b, (args.reps + args.warmup) * iterations)
        )
        model = place_model(copy.deepcopy(initial), "cpu", channels_last=cfg.train.channels_last)
        step = recipe_training_step(cfg_b, model.train(), batches)
        rounds[str(b)] = round_of_steps(step, iterations)
    with EventStorage():
        times = alternate(rounds, args.reps, args.warmup, progress=True)
    own = str(cfg.dataloader.train.total_batch_size)
    per_image = {b: summary([t / images for t in ts]) for b, ts in times.items()}
    return {
        "config_batch": int(own),
        "images_per_round": images,
        "per_image": per_image,
        "per_iteration": {b: summary([t * int(b) / images for t in ts]) for b, ts in times.items()},
        "ratio_per_image_to_config_batch": (
            {b: paired_ratio(times, b, own) for b in times} if own in times else {}
        ),
    }


def markdown(config: str, result: Dict[str, object]) -> str:
    ratios = result["ratio_per_image_to_config_batch"]
    own = result["config_batch"]
    lines = [
        f"`{config}` (its batch: {own}; {result['images_per_round']} images a round)",
        "",
        f"| batch | ms per image | ms per iteration | per image, against batches of {own} |",
        "|---|---|---|---|",
    ]
    for b, cost in result["per_image"].items():
        ratio = f"{ratios[b]:.2f}x" if b in ratios else ""
        lines.append(
            f"| {b} | {cost['median_ms']:.1f} | "
            f"{result['per_iteration'][b]['median_ms']:.0f} | {ratio} |"
        )
    return "\n".join(lines)


def run(args) -> dict:
    """Run the suite; returns the report, written to ``<output>/benchmark_batch-size.json``."""
    args = with_defaults(args, DEFAULTS)
    batch_sizes: List[int] = list(args.batches)
    print(f"{args.batch_config}: batches of {batch_sizes}, {args.reps} rounds ...", flush=True)
    result = measure(args.batch_config, batch_sizes, args)
    table = markdown(args.batch_config, result)
    print(table)
    report = {"environment": environment(), "config": args.batch_config, **result, "table": table}
    return write_json_report(report, os.path.join(args.output, "benchmark_batch-size.json"))
