#!/usr/bin/env python
"""anchorfree-d2: FCOS, CenterNet and CornerNet as Detectron2 meta-architectures."""

from setuptools import find_packages, setup

EXPORT_REQUIRES = ["onnx", "onnxscript", "onnxruntime"]

setup(
    name="anchorfree-d2",
    version="0.1.0",
    description=__doc__,
    license="Apache-2.0",
    python_requires=">=3.8",
    # Import path = folder path: projects/anchorfree/fcos is anchorfree.fcos.
    packages=find_packages("projects"),
    package_dir={"": "projects"},
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
    extras_require={
        # tools/export_model.py (ONNX) and anchorfree.export.ExportedPredictor (ONNX Runtime).
        "export": EXPORT_REQUIRES,
        "test": ["pytest", "ruff", *EXPORT_REQUIRES],
    },
)
