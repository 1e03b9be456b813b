"""Models and inputs of the suites: building a model from its config, embedded images mapped as
for training, and the inference and training-iteration timings of several models side by side
(the models alternate within each repetition, so that machine load affects all alike)."""

import copy
import os
from typing import Callable, Dict, List, Sequence, Tuple

import torch

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import load_config

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.data import DatasetCatalog
from detectron2.utils.events import EventStorage

from .timing import alternate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(config: str, weights: str = "", seed: int = 0, device: str = "cpu") -> Tuple:
    """``(cfg, model)`` of the config at ``config`` (absolute, or relative to the repository
    root), seeded by ``seed``, with ``weights`` loaded when given; ``model`` is on ``device``."""
    cfg = load_config(os.path.join(REPO, config))
    torch.manual_seed(seed)
    model = instantiate(cfg.model).to(device)
    if weights:
        DetectionCheckpointer(model).load(weights)
    return cfg, model


def mapped_images(cfg, dataset: str, count: int, with_instances: bool) -> List[dict]:
    """The first ``count`` images with objects (Detectron2's FCOS fails on images without any),
    mapped as for training without random flips (every detector's config uses the same data
    pipeline, configs/common/data/shapes.py)."""
    cfg = copy.deepcopy(cfg)
    cfg.dataloader.train.mapper.augmentations = []
    mapper = instantiate(cfg.dataloader.train.mapper)
    out = []
    for record in [d for d in DatasetCatalog.get(dataset) if d["annotations"]][:count]:
        mapped = mapper(copy.deepcopy(record))
        if not with_instances:
            mapped = {k: mapped[k] for k in ("image", "height", "width")}
        out.append(mapped)
    return out


def to_device(inputs: List[dict], device: str) -> List[dict]:
    return [{k: v.to(device) if torch.is_tensor(v) else v for k, v in x.items()} for x in inputs]


def inference_times(
    models: Dict[str, torch.nn.Module],
    images: Sequence[dict],
    reps: int,
    warmup: int,
    device: str = "cpu",
    progress: bool = False,
) -> Dict[str, List[float]]:
    """Seconds per inference call of each model (in eval mode, without gradients), one image
    per call, cycling through ``images``."""
    counters = {name: 0 for name in models}

    def runner(name: str) -> Callable[[], None]:
        model = models[name]

        def run():
            with torch.no_grad():
                model([images[counters[name] % len(images)]])
            counters[name] += 1

        return run

    for model in models.values():
        model.eval()
    return alternate({name: runner(name) for name in models}, reps, warmup, device, progress)


def training_steps(
    models: Dict[str, torch.nn.Module], batch: List[dict], **sgd
) -> Dict[str, Callable[[], None]]:
    """Per model, one training iteration on ``batch`` (forward, backward, step of its own SGD
    optimizer with arguments ``sgd``); call it in train mode inside an ``EventStorage``."""

    def step(model, optimizer):
        def run():
            loss = sum(model(batch).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        return run

    return {
        name: step(model, torch.optim.SGD(model.parameters(), **sgd))
        for name, model in models.items()
    }


def training_times(
    models: Dict[str, torch.nn.Module],
    steps: Dict[str, Callable[[], None]],
    reps: int,
    warmup: int,
    device: str = "cpu",
) -> Dict[str, List[float]]:
    """Seconds per call of each model's training step (:func:`training_steps`), the models in
    train mode."""
    for model in models.values():
        model.train()
    with EventStorage():
        return alternate(steps, reps, warmup, device)
