"""
The one bridge from LazyConfigs to Detectron2's yacs-only ``DefaultPredictor``.

:func:`get_predictor_cfg` returns a small yacs ``CfgNode`` whose meta-architecture
(``"LazyConfigModel"``, registered in ``META_ARCH_REGISTRY``) instantiates the LazyConfig's own
``model``: ``build_model(cfg)`` returns exactly that module. The LazyConfig is carried as its
file and overrides (``LAZY_CONFIG.FILE`` / ``LAZY_CONFIG.OPTS``), so the ``CfgNode`` stays plain
yacs (clone, dump, merge all work). The other keys ``DefaultPredictor`` reads come from the
LazyConfig too:

* ``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST`` from the test mapper's augmentations (none:
  images at their own size; one ``ResizeShortestEdge`` with a single size), ``INPUT.FORMAT``
  from its ``image_format``;
* ``MODEL.WEIGHTS`` from ``train.init_checkpoint`` (required, see :func:`get_predictor_cfg`);
* ``MODEL.DEVICE`` from ``train.device`` (``cuda`` falls back to ``cpu``, with a warning, where
  CUDA is absent: Detectron2's HEAD moves each input to this device);
* ``DATASETS.TEST`` from the test dataset's names (metadata for the ``Visualizer``).

    from anchorfree.config import get_predictor_cfg
    cfg = get_predictor_cfg("configs/CenterNet/centernet_R_18_shapes.py",
                            ["train.init_checkpoint=output/centernet/model_final.pth"])
    outputs = DefaultPredictor(cfg)(bgr_image)
"""

import logging
import os
from typing import Optional, Tuple

from omegaconf import OmegaConf
from torch import nn

from anchorfree.engine.checkpoint import refuse_partial_weights
from anchorfree.engine.device import fallback_device, place_model

from detectron2.config import CfgNode, get_cfg, instantiate
from detectron2.data import transforms as T
from detectron2.modeling import META_ARCH_REGISTRY

from .datasets import test_dataset_names
from .loading import load_config

__all__ = ["LAZY_META_ARCHITECTURE", "get_predictor_cfg"]

logger = logging.getLogger(__name__)

LAZY_META_ARCHITECTURE = "LazyConfigModel"


@META_ARCH_REGISTRY.register()
def LazyConfigModel(cfg: CfgNode) -> nn.Module:  # named as registered
    """The ``model`` of the LazyConfig named by ``cfg.LAZY_CONFIG`` (see module doc), placed as
    training places it (:func:`place_model`: denormals flushed on CPU, channels-last if the
    LazyConfig's ``train.channels_last``). Loading weights that cover less than half of it
    fails (:func:`refuse_partial_weights`)."""
    lazy = load_config(cfg.LAZY_CONFIG.FILE, list(cfg.LAZY_CONFIG.OPTS))
    model = place_model(
        instantiate(lazy.model),
        cfg.MODEL.DEVICE,
        channels_last=lazy.train.get("channels_last", False),
    )
    return refuse_partial_weights(model)


def _test_resize(config_file: str, augmentations) -> Tuple[int, int]:
    """(MIN_SIZE_TEST, MAX_SIZE_TEST) equivalent to the test mapper's augmentations."""
    augs = [instantiate(a) for a in (augmentations or [])]
    if not augs:
        return 0, get_cfg().INPUT.MAX_SIZE_TEST  # 0: no resize
    aug = augs[0]
    if len(augs) == 1 and type(aug) is T.ResizeShortestEdge:
        sizes = set(aug.short_edge_length)
        if len(sizes) == 1:
            return sizes.pop(), int(aug.max_size)
    raise ValueError(
        f"{config_file}: DefaultPredictor can only resize the shortest edge to one size, but "
        f"the test mapper's augmentations are {augs}."
    )


def get_predictor_cfg(
    config_file: str, opts: Optional[list] = None, *, allow_random_weights: bool = False
) -> CfgNode:
    """A yacs ``CfgNode`` with which Detectron2's ``DefaultPredictor`` predicts with the model of
    the LazyConfig ``config_file`` after the ``key=value`` overrides ``opts``. Without weights
    (``train.init_checkpoint``) it raises ``ValueError``, unless ``allow_random_weights``: a
    predictor of a randomly initialized model draws plausible-looking nonsense."""
    opts = [str(o) for o in (opts or [])]
    lazy = load_config(config_file, opts)
    weights = lazy.train.get("init_checkpoint", "") or ""
    if not weights and not allow_random_weights:
        raise ValueError(
            f"{config_file}: no weights to predict with; set "
            "train.init_checkpoint=/path/to/model_final.pth (or, for a deliberately random "
            "model, pass allow_random_weights=True / --random-weights)."
        )
    mapper = OmegaConf.select(lazy, "dataloader.test.mapper", default=None)
    augmentations = mapper.get("augmentations") if mapper is not None else None
    min_size, max_size = _test_resize(config_file, augmentations)

    cfg = get_cfg()
    cfg.MODEL.META_ARCHITECTURE = LAZY_META_ARCHITECTURE
    cfg.LAZY_CONFIG = CfgNode()
    cfg.LAZY_CONFIG.FILE = os.path.abspath(config_file)
    cfg.LAZY_CONFIG.OPTS = opts
    cfg.MODEL.WEIGHTS = weights
    cfg.MODEL.DEVICE = fallback_device(lazy.train.get("device", "cuda"))
    cfg.INPUT.MIN_SIZE_TEST = min_size
    cfg.INPUT.MAX_SIZE_TEST = max_size
    if mapper is not None and mapper.get("image_format"):
        cfg.INPUT.FORMAT = mapper.image_format
    cfg.DATASETS.TRAIN = ()
    cfg.DATASETS.TEST = tuple(test_dataset_names(lazy))
    cfg.freeze()
    return cfg
