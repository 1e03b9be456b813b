"""Timing and memory helpers shared by the benchmark suites (tools/benchmark.py)."""

import argparse
import copy
import ctypes
import ctypes.util
import json
import os
import platform
import statistics
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm


def with_defaults(args: argparse.Namespace, defaults: Dict[str, object]) -> argparse.Namespace:
    """A copy of ``args`` with ``defaults[name]`` for every option the command line left unset
    (None): the options that several suites share keep each suite's own default."""
    resolved = copy.copy(args)
    for name, value in defaults.items():
        if getattr(resolved, name, None) is None:
            setattr(resolved, name, value)
    return resolved


def synchronize(device: str) -> None:
    """Wait for ``device`` ("cuda", "cuda:1", ...) to finish its queued work; no-op on CPU."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def alternate(
    fns: Dict[str, Callable[[], None]],
    reps: int,
    warmup: int,
    device: str = "cpu",
    progress: bool = False,
) -> Dict[str, List[float]]:
    """Run every fn ``warmup`` times, then ``reps`` timed rounds; the order alternates so that
    drifting machine load affects every fn alike. Returns seconds per call. ``progress``: a
    transient tqdm bar over the rounds."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times = {name: [] for name in names}
    rounds = range(reps)
    if progress:
        rounds = tqdm(rounds, desc=", ".join(names)[:60], leave=False)
    for rep in rounds:
        for name in names if rep % 2 == 0 else reversed(names):
            synchronize(device)
            start = time.perf_counter()
            fns[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def time_calls(fn: Callable[[], None], reps: int, warmup: int, device: str = "cpu") -> List[float]:
    """Seconds per call of ``fn`` after ``warmup`` untimed calls."""
    return alternate({"fn": fn}, reps, warmup, device)["fn"]


def summary(times: List[float]) -> Dict[str, float]:
    return {
        "median_ms": 1000 * statistics.median(times),
        "min_ms": 1000 * min(times),
        "iqr_ms": 1000 * float(np.subtract(*np.percentile(times, [75, 25]))),
        "n": len(times),
    }


def paired_ratio(times: Dict[str, List[float]], ours: str, theirs: str) -> float:
    """Median over repetitions of ours/theirs within the same repetition (robust to load drift
    between repetitions)."""
    return statistics.median(a / b for a, b in zip(times[ours], times[theirs]))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def _return_freed_memory_to_the_system() -> bool:
    """
    Make glibc serve every allocation of 128 KiB or more with its own mapping, released when
    freed (a fixed threshold turns off glibc's adaptive one, which otherwise keeps freed tensor
    memory in the heap after the first calls), and trim the heap now. Then the resident set
    size follows the live tensors and its peak measures a call. False where libc is not glibc.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return False
    libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    libc.malloc_trim(0)
    return True


def peak_memory_mib(fn: Callable[[], None], device: str) -> float:
    """
    Peak memory that one call of ``fn`` adds, in MiB. On CUDA: ``max_memory_allocated`` above
    what was allocated before. On CPU (Linux, glibc): the peak resident set size, sampled every
    millisecond, above the size before the call; NaN elsewhere.
    """
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    if not os.path.exists("/proc/self/statm") or not _return_freed_memory_to_the_system():
        return float("nan")
    before = _rss_bytes()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], _rss_bytes())
    return (peak[0] - before) / 2**20


def environment() -> Dict[str, object]:
    env = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "load_average": os.getloadavg(),
    }
    if torch.cuda.is_available():
        env["cuda_device"] = torch.cuda.get_device_name(0)
    return env


def random_instances(
    num_boxes: int,
    rng: np.random.Generator,
    image_size: Tuple[int, int],
    num_classes: int,
    sizes: Tuple[float, float],
):
    """``Instances`` of ``num_boxes`` boxes inside an image of ``image_size`` (height, width):
    size (square root of the area) log-uniform in ``sizes`` px, aspect ratio log-uniform in
    1:3-3:1 (clipped to the image), classes uniform."""
    # Imported here: detectron2.structures needs anchorfree's stand-in for detectron2._C,
    # which the scripts import first.
    from detectron2.structures import Boxes, Instances

    height, width = image_size
    size = np.exp(rng.uniform(np.log(sizes[0]), np.log(sizes[1]), num_boxes))
    aspect = np.exp(rng.uniform(np.log(1 / 3), np.log(3), num_boxes))
    w = np.minimum(size * np.sqrt(aspect), width - 1)
    h = np.minimum(size / np.sqrt(aspect), height - 1)
    x0 = rng.uniform(0, width - w)
    y0 = rng.uniform(0, height - h)
    inst = Instances(tuple(image_size))
    inst.gt_boxes = Boxes(
        torch.tensor(np.stack([x0, y0, x0 + w, y0 + h], axis=1), dtype=torch.float32)
    )
    inst.gt_classes = torch.tensor(rng.integers(0, num_classes, num_boxes))
    return inst


def write_json_report(report: Dict[str, object], path: str, argv: Optional[Sequence[str]] = None):
    """Add ``report["command"]`` (the script's name and its arguments: ``argv`` where ``main``
    was given them, else the command line's), write ``report`` as indented JSON to ``path``
    (creating its folder) and print where. Returns ``report``."""
    arguments = list(argv) if argv is not None else sys.argv[1:]
    report["command"] = " ".join([os.path.basename(sys.argv[0])] + arguments)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwrote {path}")
    return report
