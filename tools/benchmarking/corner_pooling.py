"""
The suite ``corner-pooling``: corner pooling forward+backward, as the corner-pooling module uses it:
the two directional pools of one corner type on two inputs, summed (TL = top_pool(a) + left_pool(b),
BR = bottom_pool(a) + right_pool(b)), at C channels, batch N, H = W = each size. Compared:

* ours: ``anchorfree.cornernet.corner_pooling`` (on CPU, rows scanned by ``_SliceScanMax``,
  columns by ``torch.cummax``, flipped for top/left);
* cummax+flip: both pools by ``torch.cummax``, flipped where the direction needs it (what
  ``corner_pooling`` does on CUDA, and the alternative the CPU row scan is measured against);
* floor: the same number of bare ``torch.cummax`` calls (one along H, one along W), no flips;
* loop: the O(W^2) reference, a fresh ``max`` over each position's window (as in
  tests/cornernet/test_corner_pooling.py), checked equal to ours in values and gradients.

Each timed call: forward, sum, backward of a fixed random output gradient (integer-valued,
so that gradient sums are exact in any order and ours can be checked equal to the loop). ours,
cummax+flip and floor alternate within each repetition (so machine load affects them alike);
the loop, much slower, runs separately with fewer repetitions. Medians after warm-up.
The issue asks: ours >= 10x faster than the loop at 128x128 and >= 40x at 256x256, and within
1.3x of the floor.

Options: ``--pool-sizes`` (64 128 256), ``--pool-channels`` (128), ``--pool-batch`` (1),
``--pool-device`` (cpu), ``--reps`` (20), ``--warmup`` (3), ``--loop-reps`` (3),
``--loop-warmup`` (1), ``--seed``; writes ``<output>/benchmark_corner_pooling.json``.
"""

import os
import platform
from typing import Callable, Dict

import torch
from torch import Tensor

from anchorfree.cornernet.corner_pooling import (
    _cummax_scan_max,
    bottom_pool,
    left_pool,
    right_pool,
    top_pool,
)

from .timing import alternate, environment, paired_ratio, summary, with_defaults, write_json_report

ROWS, COLS = 2, 3
# The targets.
MIN_SPEEDUP_VS_LOOP = {128: 10.0, 256: 40.0}
MAX_RATIO_TO_FLOOR = 1.3

PoolPair = Callable[[Tensor, Tensor], Tensor]


def reference_pool(x: Tensor, dim: int, reverse: bool) -> Tensor:
    """The O(L^2) loop: at every position a fresh ``max`` over its window along ``dim``
    (positions i..L-1 when ``reverse``, else 0..i), ordered outward from the position so that
    ties send the gradient to the nearest maximum, like ours."""
    length = x.shape[dim]
    outputs = []
    for i in range(length):
        if reverse:
            window = x.narrow(dim, i, length - i)
        else:
            window = x.narrow(dim, 0, i + 1).flip(dim)
        outputs.append(window.max(dim).values)
    return torch.stack(outputs, dim)


def floor(a: Tensor, b: Tensor) -> Tensor:
    return torch.cummax(a, ROWS).values + torch.cummax(b, COLS).values


def corner_methods(row_pool, col_pool, reverse: bool) -> Dict[str, PoolPair]:
    """method -> f(a, b): ``row_pool(a) + col_pool(b)`` (a corner's pools along H and W, over
    positions i..L-1 when ``reverse``, else 0..i) by each method."""
    return {
        "ours": lambda a, b: row_pool(a) + col_pool(b),
        "cummax_flip": lambda a, b: (
            _cummax_scan_max(a, ROWS, reverse) + _cummax_scan_max(b, COLS, reverse)
        ),
        "floor": floor,
        "loop": lambda a, b: reference_pool(a, ROWS, reverse) + reference_pool(b, COLS, reverse),
    }


# corner -> method -> f(a, b), the corner's two pools of a and b summed.
METHODS: Dict[str, Dict[str, PoolPair]] = {
    "TL": corner_methods(top_pool, left_pool, reverse=True),
    "BR": corner_methods(bottom_pool, right_pool, reverse=False),
}
FAST_METHODS = ["ours", "cummax_flip", "floor"]


DEFAULTS = {
    "pool_sizes": [64, 128, 256],
    "pool_channels": 128,
    "pool_batch": 1,
    "pool_device": "cpu",
    "warmup": 3,
    "reps": 20,
    "loop_warmup": 1,
    "loop_reps": 3,
}


class Case:
    """Two pooled inputs and an output gradient of one size; ``timed(methods)`` times one
    forward + backward of each method."""

    def __init__(self, shape, device: torch.device, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.a = torch.randn(shape, generator=generator).to(device).requires_grad_()
        self.b = torch.randn(shape, generator=generator).to(device).requires_grad_()
        # Integer-valued: see the module docstring.
        self.grad = torch.randint(-3, 4, shape, generator=generator).float().to(device)
        self.device = device

    def forward_backward(self, fn: PoolPair):
        self.a.grad = self.b.grad = None
        out = fn(self.a, self.b)
        out.backward(self.grad)
        return out.detach(), self.a.grad, self.b.grad

    def timed(self, methods: Dict[str, PoolPair], reps: int, warmup: int):
        """Seconds per forward + backward of each method, alternating within each repetition
        (timing.alternate, synchronizing the device around each call)."""
        calls = {name: lambda fn=fn: self.forward_backward(fn) for name, fn in methods.items()}
        return alternate(calls, reps, warmup, device=str(self.device))


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def run(args) -> dict:
    """Run the suite; returns the report, written to ``<output>/benchmark_corner_pooling.json``."""
    args = with_defaults(args, DEFAULTS)
    device = torch.device(args.pool_device)
    results = {}
    for size in args.pool_sizes:
        shape = (args.pool_batch, args.pool_channels, size, size)
        case = Case(shape, device, args.seed)
        for corner, methods in METHODS.items():
            print(f"{corner} {size}x{size} ...", flush=True)
            fast = case.timed({m: methods[m] for m in FAST_METHODS}, args.reps, args.warmup)
            loop = case.timed({"loop": methods["loop"]}, args.loop_reps, args.loop_warmup)
            ours_result = case.forward_backward(methods["ours"])
            loop_result = case.forward_backward(methods["loop"])
            entry = {name: summary(t) for name, t in {**fast, **loop}.items()}
            entry["speedup_vs_loop"] = entry["loop"]["median_ms"] / entry["ours"]["median_ms"]
            entry["ours_over_floor"] = paired_ratio(fast, "ours", "floor")
            entry["cummax_flip_over_floor"] = paired_ratio(fast, "cummax_flip", "floor")
            entry["equal_to_loop"] = all(
                torch.equal(x, y) for x, y in zip(ours_result, loop_result)
            )
            results[f"{corner}_{size}"] = entry

    header = (
        f"{'case':<9} {'ours':>9} {'cummax+flip':>12} {'floor':>9} {'loop':>10} "
        f"{'loop/ours':>10} {'ours/floor':>11} {'c+f/floor':>10}  equal"
    )
    print(
        f"\nforward+backward ms (median), C={args.pool_channels}, N={args.pool_batch}, {device}, "
        f"{torch.get_num_threads()} threads"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:<9} {r['ours']['median_ms']:>9.2f} {r['cummax_flip']['median_ms']:>12.2f} "
            f"{r['floor']['median_ms']:>9.2f} {r['loop']['median_ms']:>10.1f} "
            f"{r['speedup_vs_loop']:>9.1f}x {r['ours_over_floor']:>10.2f}x "
            f"{r['cummax_flip_over_floor']:>9.2f}x  {r['equal_to_loop']}"
        )
    print("(ratios over floor: median of per-repetition ratios)")

    targets = {}
    for name, r in results.items():
        size = int(name.split("_")[1])
        checks = {"within_floor": r["ours_over_floor"] <= MAX_RATIO_TO_FLOOR}
        if size in MIN_SPEEDUP_VS_LOOP:
            checks["speedup_vs_loop"] = r["speedup_vs_loop"] >= MIN_SPEEDUP_VS_LOOP[size]
        targets[name] = checks
    print("targets met:", {name: all(c.values()) for name, c in targets.items()})

    report = {
        "environment": {
            **environment(),
            "device": str(device),
            "device_name": device_name(device),
        },
        "settings": {
            "channels": args.pool_channels,
            "batch": args.pool_batch,
            "sizes": args.pool_sizes,
            "warmup": args.warmup,
            "reps": args.reps,
            "loop_warmup": args.loop_warmup,
            "loop_reps": args.loop_reps,
        },
        "targets": {
            "min_speedup_vs_loop": MIN_SPEEDUP_VS_LOOP,
            "max_ratio_to_floor": MAX_RATIO_TO_FLOOR,
            "met": targets,
        },
        "results": results,
    }
    return write_json_report(report, os.path.join(args.output, "benchmark_corner_pooling.json"))
