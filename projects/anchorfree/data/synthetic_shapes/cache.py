"""Writing a split to disk and caching it: :func:`default_root`, the manifest that is the cache
key, rendering in worker processes, the per-split file lock and
:func:`generate_synthetic_shapes`."""

import contextlib
import glob
import json
import logging
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import cv2

from .drawing import image_rng, render_synthetic_image
from .params import CATEGORIES, STANDARD_SPLITS, ShapesParams, split_params

try:  # POSIX only; elsewhere generation relies on the atomic rename alone.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

# Bump whenever a code change alters the generated images or annotations: it is part of the
# cache key, so existing caches are regenerated.
GENERATOR_VERSION = 1

# The manifest's "generator" field (also part of the cache key): the package's import path.
GENERATOR_NAME = "anchorfree.data.synthetic_shapes"

DATASETS_ENV_VAR = "ANCHORFREE_DATASETS"
DATASET_DIRNAME = "anchorfree_shapes"
# Outside a source checkout (no setup.py next to projects/) the cache goes here.
FALLBACK_DATASETS_DIR = os.path.join("~", ".cache", "anchorfree", "datasets")

IMAGES_DIRNAME = "images"
MANIFEST_FILENAME = "manifest.json"
IMAGE_FILENAME_FORMAT = "{:06d}.jpg"

# Starting a worker process costs about as much as rendering this many images (it imports
# torch and Detectron2): smaller splits are rendered in-process.
MIN_IMAGES_PER_WORKER = 150
MAX_WORKERS = 8
# Tasks go to the workers in this many chunks per worker (balances load, bounds overhead).
CHUNKS_PER_WORKER = 8


def _repo_root() -> Optional[str]:
    """The source checkout's root (the directory of setup.py), or None outside a checkout."""
    # <root>/projects/anchorfree/data/synthetic_shapes/cache.py
    root = os.path.abspath(__file__)
    for _ in range(5):
        root = os.path.dirname(root)
    if os.path.isfile(os.path.join(root, "setup.py")) and os.path.isdir(
        os.path.join(root, "projects", "anchorfree")
    ):
        return root
    return None


def default_root() -> str:
    """``$ANCHORFREE_DATASETS/anchorfree_shapes``; the variable defaults to
    ``<repo root>/.cache/datasets`` (``~/.cache/anchorfree/datasets`` outside a checkout)."""
    datasets = os.environ.get(DATASETS_ENV_VAR)
    if not datasets:
        repo = _repo_root()
        datasets = (
            os.path.join(repo, ".cache", "datasets")
            if repo
            else os.path.expanduser(FALLBACK_DATASETS_DIR)
        )
    return os.path.join(os.path.abspath(os.path.expanduser(datasets)), DATASET_DIRNAME)


def _split_files(split_dir: str, split: str) -> Tuple[str, str, str]:
    """(json_file, image_root, manifest) of ``split`` in the directory ``split_dir``."""
    return (
        os.path.join(split_dir, f"instances_{split}.json"),
        os.path.join(split_dir, IMAGES_DIRNAME),
        os.path.join(split_dir, MANIFEST_FILENAME),
    )


def split_paths(root: str, split: str) -> Tuple[str, str, str]:
    """(json_file, image_root, manifest) of ``split`` under ``root``."""
    return _split_files(os.path.join(root, split), split)


def _manifest(split: str, num_images: int, params: ShapesParams) -> Dict[str, Any]:
    return {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "split": split,
        "num_images": num_images,
        "params": params.to_json(),
    }


def _read_json(path: str) -> Optional[Any]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def check_split_name(split: str) -> None:
    if not split or os.sep in split or split.startswith(".") or (os.altsep and os.altsep in split):
        raise ValueError(f"Invalid split name {split!r}: it names a directory under the root.")


def _render_and_write(
    task: Tuple[ShapesParams, str, int, str],
) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Worker: render image ``index`` and write its JPEG; returns its COCO image record and
    annotations (without annotation ids, which the caller assigns in image order)."""
    params, split, index, image_dir = task
    result = render_synthetic_image(image_rng(params.seed, split, index), params)
    file_name = IMAGE_FILENAME_FORMAT.format(index)
    ok, encoded = cv2.imencode(
        ".jpg", result.image, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality]
    )
    if not ok:  # pragma: no cover
        raise RuntimeError(f"JPEG encoding failed for {file_name}")
    with open(os.path.join(image_dir, file_name), "wb") as f:
        f.write(encoded.tobytes())
    height, width = result.image.shape[:2]
    image = {"id": index + 1, "file_name": file_name, "height": height, "width": width}
    annotations = [
        {
            "image_id": index + 1,
            "category_id": inst.category_id,
            "bbox": list(inst.bbox),
            "area": inst.area,
            "iscrowd": 0,
        }
        for inst in result.instances
    ]
    return image, annotations


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe


def cpu_count() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def _render_all(
    tasks: List[Tuple[ShapesParams, str, int, str]], num_workers: int
) -> Iterator[Tuple[Dict[str, Any], List[Dict[str, Any]]]]:
    """Results of :func:`_render_and_write` in task order, from ``num_workers`` processes.
    Output does not depend on ``num_workers``: every image has its own seed."""
    num_workers = min(num_workers, len(tasks) // MIN_IMAGES_PER_WORKER)
    if mp.current_process().daemon:  # e.g. a data-loader worker: may not start processes
        num_workers = 1
    if num_workers <= 1:
        for task in tasks:
            yield _render_and_write(task)
        return
    # "spawn": forking a process that holds torch / OpenCV thread pools is not safe.
    context = mp.get_context("spawn")
    chunksize = max(1, len(tasks) // (num_workers * CHUNKS_PER_WORKER))
    with context.Pool(num_workers, initializer=_worker_init) as pool:
        yield from pool.imap(_render_and_write, tasks, chunksize=chunksize)


def _write_split(
    split_dir: str, split: str, num_images: int, params: ShapesParams, num_workers: int
) -> None:
    """Generate the whole split into the (new, empty) ``split_dir``; the manifest comes last."""
    json_file, image_dir, manifest_file = _split_files(split_dir, split)
    os.makedirs(image_dir)
    tasks = [(params, split, i, image_dir) for i in range(num_images)]
    images, annotations = [], []
    for image, anns in _render_all(tasks, num_workers):
        images.append(image)
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, **ann})
    coco = {
        "info": {
            "description": f"anchorfree synthetic shapes, split {split!r}",
            "version": str(GENERATOR_VERSION),
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": CATEGORIES,
    }
    with open(json_file, "w") as f:
        json.dump(coco, f)
    with open(manifest_file, "w") as f:
        json.dump(_manifest(split, num_images, params), f, indent=2, sort_keys=True)


@contextlib.contextmanager
def _exclusive_lock(path: str) -> Iterator[None]:
    """An inter-process lock (``fcntl.flock``) on ``path``; a no-op where fcntl is missing."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def generate_synthetic_shapes(
    root: Optional[str] = None,
    split: str = "train",
    num_images: Optional[int] = None,
    params: Optional[ShapesParams] = None,
    num_workers: Optional[int] = None,
    force: bool = False,
) -> Tuple[str, str]:
    """
    Make sure ``split`` is generated under ``root`` and return its ``(json_file, image_root)``.

    A cached split is reused when its manifest matches (generator version, split, number of
    images, parameters); otherwise it is generated again. Safe when several processes call it
    at once: generation holds a per-split file lock and writes into a temporary directory that
    is renamed into place when complete (the manifest is written last), so a split directory
    with a matching manifest is always complete.

    Args:
        root: the dataset directory; :func:`default_root` when None.
        split: split key, also the directory name and part of every image's seed.
        num_images: defaults to ``DEFAULT_SPLITS`` / ``TINY_SPLITS`` / ``DEMO_SPLITS`` for
            known split keys.
        params: generation parameters; :func:`split_params` of ``split`` when None.
        num_workers: processes to render with; the output does not depend on it. The default,
            1, renders in-process (about 20 s for the default splits on 2 CPU cores): worker
            processes are started with "spawn", which re-imports the caller's main module, and
            a main script without an ``if __name__ == "__main__"`` guard that loads the dataset
            would then deadlock. The command line uses all CPUs.
        force: regenerate even when the cache matches.
    """
    check_split_name(split)
    if num_images is None:
        if split not in STANDARD_SPLITS:
            raise ValueError(
                f"num_images is required for split {split!r} (known: {sorted(STANDARD_SPLITS)})"
            )
        num_images = STANDARD_SPLITS[split]
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    if params is None:
        params = split_params(split)
    root = os.path.abspath(root or default_root())
    json_file, image_root, manifest_file = split_paths(root, split)
    expected = _manifest(split, num_images, params)
    if not force and _read_json(manifest_file) == expected:
        return json_file, image_root

    os.makedirs(root, exist_ok=True)
    with _exclusive_lock(os.path.join(root, f".{split}.lock")):
        # Another process may have generated it while we waited for the lock.
        if not force and _read_json(manifest_file) == expected:
            return json_file, image_root
        # Leftovers of interrupted runs (we hold the lock: nobody else is writing them).
        for stale in glob.glob(os.path.join(root, f".{split}.tmp-*")) + glob.glob(
            os.path.join(root, f".{split}.old-*")
        ):
            shutil.rmtree(stale, ignore_errors=True)
        workers = num_workers if num_workers is not None else 1
        logger.info(
            f"Generating synthetic shapes split '{split}' ({num_images} images) in {root} ..."
        )
        start = time.perf_counter()
        tmp_dir = tempfile.mkdtemp(prefix=f".{split}.tmp-", dir=root)
        try:
            split_tmp = os.path.join(tmp_dir, split)
            _write_split(split_tmp, split, num_images, params, workers)
            split_dir = os.path.join(root, split)
            old_dir = None
            if os.path.lexists(split_dir):
                old_dir = tempfile.mkdtemp(prefix=f".{split}.old-", dir=root)
                os.replace(split_dir, os.path.join(old_dir, split))
            os.replace(split_tmp, split_dir)
            if old_dir is not None:
                shutil.rmtree(old_dir, ignore_errors=True)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        logger.info(f"Generated split '{split}' in {time.perf_counter() - start:.1f} s.")
    return json_file, image_root


# ---------------------------------------------------------------------------------------------
# Registration
