#!/usr/bin/env python
"""
Install Detectron2 v0.6 from the package registry, without a compiler.

Detectron2 is not on PyPI under its own name. The sdist ``pb1-detectron2==0.6`` carries the
Python files of upstream tag v0.6, but its own setup.py cannot be used here:

1. it always compiles ``detectron2/layers/csrc/vision.cpp``, which the sdist does not contain;
2. its ``package_data`` globs a top-level ``configs/`` directory that the sdist does not have
   (the model-zoo configs live under ``detectron2/model_zoo/configs``), so
   ``model_zoo.get_config`` would find nothing;
3. it pins ``black==21.4b2``, which only ``LazyConfig.save`` imports (lazily);
4. its metadata declares an extra with a direct-URL dependency (panopticapi), which pip >= 26.3
   refuses even to download: use pip < 26.3 to run this script (``make setup`` does).

This script downloads that sdist and builds it with a replacement setup script that packages
exactly the sdist's Python files and configs, with no extension module and no black pin. The
compiled ``detectron2._C`` is then missing; ``anchorfree.compat`` provides a stand-in for it
(see ``anchorfree/compat/import_hook.py``), which steps aside whenever a real one is importable.

Users with internet access should rather build Detectron2 from its GitHub source; this script
does nothing when a Detectron2 is already importable (pass ``--force`` to rebuild anyway).
"""

import argparse
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile

SDIST_NAME = "pb1-detectron2"
SDIST_VERSION = "0.6"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The first pip release that refuses to download the sdist (see the module docstring).
PIP_REFUSING_SDIST = (26, 3)
CONSTRAINTS = os.path.join(REPO_ROOT, "tools", "detectron2_v0.6_constraints.txt")

# Dependencies of Detectron2 v0.6 as its setup.py declares them, less black (see module doc).
RUNTIME_REQUIREMENTS = [
    "Pillow>=7.1",
    "matplotlib",
    "pycocotools>=2.0.2",
    "termcolor>=1.1",
    "yacs>=0.1.8",
    "tabulate",
    "cloudpickle",
    "tqdm>4.29.0",
    "tensorboard",
    "fvcore>=0.1.5,<0.1.6",
    "iopath>=0.1.7,<0.1.10",
    "omegaconf>=2.1",
    "hydra-core>=1.1",
]

REPLACEMENT_SETUP = """
import glob
from setuptools import find_packages, setup

# Written by anchorfree-d2 tools/install_detectron2.py: the sdist's Python files, no extension.
PROJECTS = {
    "detectron2.projects.point_rend": "projects/PointRend/point_rend",
    "detectron2.projects.deeplab": "projects/DeepLab/deeplab",
    "detectron2.projects.panoptic_deeplab": "projects/Panoptic-DeepLab/panoptic_deeplab",
}
configs = [
    p[len("detectron2/model_zoo/"):]
    for p in glob.glob("detectron2/model_zoo/configs/**/*", recursive=True)
    if p.endswith((".yaml", ".py"))
]
setup(
    name="detectron2",
    version="0.6+pb1sdist",
    description="Detectron2 v0.6 Python sources (registry sdist pb1-detectron2), no compiled ops",
    packages=find_packages(exclude=("configs", "tests*")) + list(PROJECTS.keys()),
    package_dir=PROJECTS,
    package_data={"detectron2.model_zoo": configs},
    python_requires=">=3.6",
    install_requires=%r,
)
"""


def detectron2_installed() -> bool:
    return importlib.util.find_spec("detectron2") is not None


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.check_call(cmd)


def check_pip_version() -> None:
    from pip import __version__ as pip_version

    major, minor = (int(v) for v in pip_version.split(".")[:2])
    if (major, minor) >= PIP_REFUSING_SDIST:
        raise SystemExit(
            f"pip {pip_version} refuses {SDIST_NAME}=={SDIST_VERSION} (its metadata declares a "
            f"direct-URL dependency for an extra). Run: {sys.executable} -m pip install "
            f"'pip<{PIP_REFUSING_SDIST[0]}.{PIP_REFUSING_SDIST[1]}' and try again."
        )


def fetch_sdist(cache_dir: str) -> str:
    """Download the sdist into ``cache_dir`` (once) and return the extracted source tree."""
    os.makedirs(cache_dir, exist_ok=True)
    archives = glob.glob(os.path.join(cache_dir, f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"))
    if not archives:
        check_pip_version()
        # --no-build-isolation: the sdist's setup.py imports torch even to report its metadata.
        pip(
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-build-isolation",
            "-d",
            cache_dir,
            f"{SDIST_NAME}=={SDIST_VERSION}",
        )
        archives = glob.glob(os.path.join(cache_dir, f"{SDIST_NAME}-{SDIST_VERSION}.tar.gz"))
    if not archives:
        raise RuntimeError(f"{SDIST_NAME}=={SDIST_VERSION} was not downloaded into {cache_dir}")
    src_dir = os.path.join(cache_dir, f"{SDIST_NAME}-{SDIST_VERSION}")
    shutil.rmtree(src_dir, ignore_errors=True)
    with tarfile.open(archives[0]) as tar:
        tar.extractall(cache_dir, filter="data")
    return src_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if installed")
    parser.add_argument("--cache-dir", default=os.path.join(REPO_ROOT, ".cache", "detectron2"))
    args = parser.parse_args()

    if detectron2_installed() and not args.force:
        print("detectron2 is already importable; nothing to do (use --force to rebuild).")
        return
    pip("install", "-c", CONSTRAINTS, *RUNTIME_REQUIREMENTS)
    src_dir = fetch_sdist(args.cache_dir)
    with open(os.path.join(src_dir, "setup.py"), "w") as f:
        f.write(REPLACEMENT_SETUP % (RUNTIME_REQUIREMENTS,))
    # pyproject-less tree + --no-build-isolation: builds with the venv's setuptools, offline.
    pip("install", "--no-build-isolation", "-c", CONSTRAINTS, src_dir)


if __name__ == "__main__":
    main()
