"""Command line: ``python -m anchorfree.data.synthetic_shapes`` generates splits (default: train
and val) and prints their statistics."""

import argparse
import json
import logging
import sys
import time
from typing import Optional, Sequence

from .cache import cpu_count, default_root, generate_synthetic_shapes
from .params import DEFAULT_SPLITS, STANDARD_SPLITS
from .statistics import dataset_statistics, format_statistics


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: generate splits (default: train and val) and print their statistics."""
    parser = argparse.ArgumentParser(
        prog="python -m anchorfree.data.synthetic_shapes",
        description="Generate the embedded synthetic shapes dataset and print statistics.",
    )
    parser.add_argument(
        "--root", default=None, help=f"dataset directory (default: {default_root()})"
    )
    parser.add_argument(
        "--splits",
        nargs="+",
        default=list(DEFAULT_SPLITS),
        help=f"split keys (default: %(default)s); known sizes: {STANDARD_SPLITS}",
    )
    parser.add_argument(
        "--num-images",
        type=int,
        default=None,
        help="images per split (default: the split's standard size)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=cpu_count(),
        help="rendering processes (default: the number of CPUs, %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    total = 0.0
    for split in args.splits:
        start = time.perf_counter()
        json_file, image_root = generate_synthetic_shapes(
            args.root, split, args.num_images, num_workers=args.num_workers, force=args.force
        )
        elapsed = time.perf_counter() - start
        total += elapsed
        with open(json_file) as f:
            stats = dataset_statistics(json.load(f))
        print(
            f"split '{split}': {json_file} (images in {image_root})\n"
            f"{format_statistics(stats)}\n  time: {elapsed:.1f} s"
        )
    print(f"total time: {total:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
