"""anchorfree.config.get_predictor_cfg: Detectron2's own DefaultPredictor served from every leaf
LazyConfig (random weights, nothing downloaded), on a random odd-sized image."""

import glob
import os

import numpy as np
import pytest
import torch
from detector_testing import one_thread  # noqa: F401  (an autouse fixture)

import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import get_predictor_cfg, load_config
from anchorfree.data.synthetic_shapes import NUM_CLASSES
from anchorfree.engine import Predictor

from detectron2.config import CfgNode, instantiate
from detectron2.data import MetadataCatalog
from detectron2.engine import DefaultPredictor
from detectron2.modeling import build_model
from detectron2.utils.registry import locate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Leaf configs; configs/common (and each detector's common/, models/) hold the pieces they import.
LEAF_CONFIGS = sorted(
    p
    for p in glob.glob(os.path.join(REPO, "configs", "*", "*.py"))
    if os.path.basename(os.path.dirname(p)) != "common"
)
SHAPES_CONFIG = os.path.join(REPO, "configs", "CenterNet", "centernet_R_18_shapes.py")


def _image(h=200, w=249):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("path", LEAF_CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_default_predictor_serves_every_leaf_config(path):
    lazy = load_config(path, [])
    cfg = get_predictor_cfg(path, ["train.init_checkpoint="], allow_random_weights=True)
    assert isinstance(cfg, CfgNode) and cfg.MODEL.META_ARCHITECTURE == "LazyConfigModel"
    assert cfg.INPUT.FORMAT == lazy.dataloader.test.mapper.image_format
    assert cfg.MODEL.DEVICE in ("cpu", "cuda") or cfg.MODEL.DEVICE.startswith("cuda")
    torch.manual_seed(0)
    predictor = DefaultPredictor(cfg)
    # Exactly the LazyConfig's own model.
    model = predictor.model
    target = lazy.model._target_
    assert type(model) is (locate(target) if isinstance(target, str) else target)
    assert sum(p.numel() for p in model.parameters()) > 0
    if "_shapes" in os.path.basename(path):
        assert model.num_classes == NUM_CLASSES
    assert predictor.metadata is MetadataCatalog.get(cfg.DATASETS.TEST[0])
    instances = predictor(_image())["instances"]
    assert instances.image_size == (200, 249) and len(instances) <= 100


def test_keys_come_from_the_lazy_config():
    cfg = get_predictor_cfg(
        SHAPES_CONFIG, ["train.init_checkpoint=output/centernet/model_final.pth"]
    )
    assert cfg.MODEL.WEIGHTS == "output/centernet/model_final.pth"
    assert cfg.DATASETS.TEST == ("anchorfree_shapes_val",)
    assert cfg.INPUT.MIN_SIZE_TEST == 0 and cfg.INPUT.FORMAT == "BGR"  # images at their own size
    if not torch.cuda.is_available():
        assert cfg.MODEL.DEVICE == "cpu"  # train.device "cuda" falls back
    model = build_model(cfg)
    lazy_model = instantiate(load_config(SHAPES_CONFIG).model)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in lazy_model.state_dict().items()
    }
    coco = get_predictor_cfg(
        os.path.join(REPO, "configs", "CenterNet", "centernet_R_50_FPN_1x.py"), []
    )
    assert (coco.INPUT.MIN_SIZE_TEST, coco.INPUT.MAX_SIZE_TEST) == (800, 1333)
    assert coco.MODEL.WEIGHTS == load_config(coco.LAZY_CONFIG.FILE).train.init_checkpoint
    # The original CenterNet's test pipeline (its weights convert into this config) resizes in
    # the model: the predictor passes BGR images at their own size.
    original = get_predictor_cfg(
        os.path.join(REPO, "configs", "CenterNet", "centernet_R_18_140e.py"), []
    )
    assert (original.INPUT.MIN_SIZE_TEST, original.INPUT.FORMAT) == (0, "BGR")


def test_overrides_are_checked_strictly():
    with pytest.raises(KeyError, match=r"train\.init_checkpont.*Did you mean"):
        get_predictor_cfg(SHAPES_CONFIG, ["train.init_checkpont=x.pth"])


def test_predictor_subclass_accepts_gray_images():
    cfg = get_predictor_cfg(SHAPES_CONFIG, ["train.init_checkpoint="], allow_random_weights=True)
    gray = _image()[:, :, 0]
    assert Predictor(cfg)(gray)["instances"].image_size == (200, 249)
