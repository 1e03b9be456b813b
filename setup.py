#!/usr/bin/env python
"""anchorfree-d2: FCOS, CenterNet and CornerNet as Detectron2 meta-architectures."""
import glob
import os

from setuptools import find_packages, setup

# Shared code lives in projects/anchorfree; each detector in projects/<Name>/<pkg>
# (Detectron2's projects/ convention), installed as the subpackage `anchorfree.<pkg>`.
PACKAGE_DIRS = {"anchorfree": "projects/anchorfree"}
for init_file in sorted(glob.glob("projects/*/*/__init__.py")):
    package_dir = os.path.dirname(init_file)
    if not package_dir.startswith("projects/anchorfree/"):
        PACKAGE_DIRS[f"anchorfree.{os.path.basename(package_dir)}"] = package_dir
PACKAGES = list(PACKAGE_DIRS) + [f"anchorfree.{p}" for p in find_packages("projects/anchorfree")]

setup(
    name="anchorfree-d2",
    version="0.1.0",
    description=__doc__,
    license="Apache-2.0",
    python_requires=">=3.8",
    packages=PACKAGES,
    package_dir=PACKAGE_DIRS,
    # Detectron2 itself is not on PyPI under its own name: `make setup` installs it
    # (tools/install_detectron2.py), or build it from its GitHub source.
    install_requires=[
        "torch>=1.10",
        "torchvision",
        "fvcore",
        "iopath",
        "pycocotools>=2.0.2",
        "opencv-python-headless",
        "omegaconf>=2.1",
        "numpy",
        "Pillow",
        "tqdm",
    ],
    extras_require={"test": ["pytest"]},
)
