#!/usr/bin/env python
"""
Install Detectron2 v0.6 from the package registry, without a compiler, unless a Detectron2 is
installed; then pin what the installed one needs.

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
then builds nothing (pass ``--force`` to build the registry v0.6 anyway).

Either way it ends by pinning what the installed Detectron2 needs on today's stack, and only
that: it writes those pins to a constraints file (``--constraints-out``, by default
``detectron2-constraints.txt`` in the environment's prefix, e.g. ``.venv/``) for the project's
own install to use with ``pip install -c``, and installs them. Which pins, is read from the
installed Detectron2's sources, because its ``__version__`` is "0.6" at v0.6 and at GitHub HEAD
alike: sources that use numpy's aliases removed in 1.24 or Pillow's ``Image.LINEAR`` (v0.6) get
``tools/detectron2_v0.6_constraints.txt``; others (a build of HEAD) get at most
``setuptools<81``, while an import of ``pkg_resources`` needs it, and never a numpy or Pillow
downgrade.
"""

import argparse
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from typing import List, Optional

SDIST_NAME = "pb1-detectron2"
SDIST_VERSION = "0.6"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The first pip release that refuses to download the sdist (see the module docstring).
PIP_REFUSING_SDIST = (26, 3)
CONSTRAINTS = os.path.join(REPO_ROOT, "tools", "detectron2_v0.6_constraints.txt")
# What in a Detectron2's sources calls for the v0.6 pins: np.bool/np.int/np.float (removed in
# numpy 1.24) and Image.LINEAR (removed in Pillow 10). np.bool_ or np.float32 do not match.
USES_REMOVED_NUMPY_OR_PILLOW_API = re.compile(r"\bnp\.(bool|int|float)\b|\bImage\.LINEAR\b")
IMPORTS_PKG_RESOURCES = re.compile(r"^\s*(import|from)\s+pkg_resources\b", re.MULTILINE)
# The last setuptools releases with pkg_resources.
SETUPTOOLS_WITH_PKG_RESOURCES = "setuptools<81"

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


def installed_detectron2_dir() -> Optional[str]:
    """The folder of the importable ``detectron2`` package, or None."""
    importlib.invalidate_caches()  # it may have been installed since this process started
    spec = importlib.util.find_spec("detectron2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def constraint_lines(path: str) -> List[str]:
    """The requirement lines of a constraints file, without comments and blank lines."""
    with open(path) as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


def pins_for_detectron2(detectron2_dir: str) -> List[str]:
    """The pins that the Detectron2 in ``detectron2_dir`` needs, from what its sources use (see
    the module docstring)."""
    sources = []
    for path in glob.glob(os.path.join(detectron2_dir, "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8", errors="replace") as f:
            sources.append(f.read())
    if any(USES_REMOVED_NUMPY_OR_PILLOW_API.search(s) for s in sources):
        return constraint_lines(CONSTRAINTS)
    if any(IMPORTS_PKG_RESOURCES.search(s) for s in sources):
        return [SETUPTOOLS_WITH_PKG_RESOURCES]
    return []


def write_constraints(path: str, pins: List[str], detectron2_dir: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(
            f"# Written by tools/install_detectron2.py: the pins that {detectron2_dir} needs.\n"
        )
        f.writelines(f"{pin}\n" for pin in pins)


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


def install_registry_detectron2(cache_dir: str) -> None:
    pip("install", "-c", CONSTRAINTS, *RUNTIME_REQUIREMENTS)
    src_dir = fetch_sdist(cache_dir)
    with open(os.path.join(src_dir, "setup.py"), "w") as f:
        f.write(REPLACEMENT_SETUP % (RUNTIME_REQUIREMENTS,))
    # pyproject-less tree + --no-build-isolation: builds with the venv's setuptools, offline.
    pip("install", "--no-build-isolation", "-c", CONSTRAINTS, src_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if installed")
    parser.add_argument("--cache-dir", default=os.path.join(REPO_ROOT, ".cache", "detectron2"))
    parser.add_argument(
        "--constraints-out",
        default=os.path.join(sys.prefix, "detectron2-constraints.txt"),
        help="where to write the pins of the installed Detectron2, for pip install -c",
    )
    args = parser.parse_args()

    if installed_detectron2_dir() is None or args.force:
        install_registry_detectron2(args.cache_dir)
    else:
        print("detectron2 is already importable; not building v0.6 (use --force to rebuild).")
    detectron2_dir = installed_detectron2_dir()
    if detectron2_dir is None:
        raise SystemExit("detectron2 is still not importable after its installation")
    pins = pins_for_detectron2(detectron2_dir)
    write_constraints(args.constraints_out, pins, detectron2_dir)
    print(f"pins for {detectron2_dir}: {pins or 'none'}; written to {args.constraints_out}")
    if pins:
        pip("install", *pins)


if __name__ == "__main__":
    main()
