"""
Writing an exported detector: ``DIR/model.onnx`` (ONNX, through ``torch.onnx.export`` with
``dynamo=True``) or ``DIR/model.ts`` (TorchScript, through ``torch.jit.trace``), each the graph
of :class:`anchorfree.export.graph.ExportableDetector` with the image height and width as
graph values, plus what a predictor needs beside the graph: ``DIR/config.yaml`` (the LazyConfig
with its overrides: the test transform, the input format, CornerNet's post-step) and
``DIR/export.json`` (format, file, class names, whether the post-step runs).
"""

import json
import os
from typing import Dict, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from anchorfree.centernet import CenterNet
from anchorfree.config.datasets import test_dataset_names
from anchorfree.cornernet import CornerNet
from anchorfree.fcos import AnchorFreeFCOS

from detectron2.config import LazyConfig
from detectron2.data import MetadataCatalog

from .graph import ExportableDetector

__all__ = ["EXPORT_FORMATS", "MAX_SIDE", "MIN_SIDE", "export_detector"]

# Format -> file written in the output folder.
EXPORT_FORMATS: Dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.ts"}
METADATA_FILE = "export.json"
CONFIG_FILE = "config.yaml"
# The range of input sides the ONNX graph accepts: above MAX_SIDE CornerNet's graph form of
# corner pooling would no longer scan whole rows (MAX_GRAPH_SCAN_LENGTH cells at stride 4).
MIN_SIDE, MAX_SIDE = 32, 8192
# The input the graph is traced with; its sizes are not fixed in the graph.
SAMPLE_SIZE = (256, 320)
# The detectors whose graph ends before their suppression (see graph.py).
POST_STEP_DETECTORS = (CornerNet,)


def _check_exportable(model: nn.Module) -> None:
    if not isinstance(model, (AnchorFreeFCOS, CenterNet, CornerNet)):
        raise ValueError(
            f"Only this project's detectors (FCOS, CenterNet, CornerNet) export; the config's "
            f"model is {type(model).__module__}.{type(model).__name__}. (Detectron2's own "
            "export, tools/deploy/export_model.py of its repository, takes its yacs configs.)"
        )


def _class_names(cfg: DictConfig) -> Sequence[str]:
    for name in test_dataset_names(cfg):
        classes = MetadataCatalog.get(name).get("thing_classes")
        if classes:
            return list(classes)
    return []


@torch.no_grad()
def export_detector(cfg: DictConfig, model: nn.Module, export_format: str, output_dir: str) -> str:
    """
    Export ``model`` (built from ``cfg``, weights loaded) in ``export_format`` (a key of
    :data:`EXPORT_FORMATS`) into ``output_dir``, with the files of the module doc. Returns the
    path of the graph file.
    """
    if export_format not in EXPORT_FORMATS:
        raise ValueError(
            f"--format must be one of {', '.join(EXPORT_FORMATS)}, not {export_format!r}"
        )
    _check_exportable(model)
    os.makedirs(output_dir, exist_ok=True)
    graph = ExportableDetector(model.cpu()).eval()
    sample = torch.rand(3, *SAMPLE_SIZE, generator=torch.Generator().manual_seed(0)) * 255
    path = os.path.join(output_dir, EXPORT_FORMATS[export_format])
    if export_format == "onnx":
        side = {
            1: torch.export.Dim("height", min=MIN_SIDE, max=MAX_SIDE),
            2: torch.export.Dim("width", min=MIN_SIDE, max=MAX_SIDE),
        }
        torch.onnx.export(
            graph,
            (sample,),
            path,
            dynamo=True,
            input_names=["image"],
            output_names=["boxes", "scores", "classes"],
            dynamic_shapes=(side,),
            # One file (the weights inside): our detectors are far below ONNX's 2 GB limit.
            external_data=False,
        )
    else:
        # check_trace would rerun the trace and compare, which the random input makes noisy.
        torch.jit.trace(graph, (sample,), check_trace=False).save(path)
    LazyConfig.save(cfg, os.path.join(output_dir, CONFIG_FILE))
    metadata = {
        "format": export_format,
        "file": os.path.basename(path),
        "detector": type(model).__name__,
        "input_format": OmegaConf.select(cfg, "dataloader.test.mapper.image_format", default="BGR"),
        "post_step": isinstance(model, POST_STEP_DETECTORS),
        "thing_classes": _class_names(cfg),
        "input_sides": [MIN_SIDE, MAX_SIDE],
    }
    with open(os.path.join(output_dir, METADATA_FILE), "w") as f:
        json.dump(metadata, f, indent=2)
    return path
