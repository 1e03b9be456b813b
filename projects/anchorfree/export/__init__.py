"""
Deployment: each detector of this project as one graph from image to detections (ONNX or
TorchScript, decoding included; see :mod:`.graph`), written by :func:`export_detector` (the
entry ``tools/export_model.py``), and :class:`ExportedPredictor`, which runs one with
``DefaultPredictor``'s calling convention.
"""

from .exporting import EXPORT_FORMATS, export_detector
from .graph import ExportableDetector
from .runtime import ExportedPredictor

__all__ = ["EXPORT_FORMATS", "ExportableDetector", "ExportedPredictor", "export_detector"]
