"""Every config loads and builds its model; bad configs and overrides fail clearly."""
import glob
import os

import pytest
import torch
from detectron2.config import CfgNode
from detectron2.modeling import build_model
from omegaconf import DictConfig

import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import load_config
from anchorfree.data.synthetic_shapes import NUM_CLASSES
from anchorfree.engine import build_model_from_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Leaf configs; configs/common holds the pieces they import.
LAZY_CONFIGS = sorted(
    p for p in glob.glob(os.path.join(REPO, "configs", "*", "*.py"))
    if os.path.basename(os.path.dirname(p)) != "common"
)
YACS_CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*", "*.yaml")))
SHAPES_CONFIG = os.path.join(REPO, "configs", "baselines", "fcos_R_18_FPN_shapes.py")


def test_there_are_configs_of_both_kinds():
    assert LAZY_CONFIGS and YACS_CONFIGS


@pytest.mark.parametrize("path", LAZY_CONFIGS + YACS_CONFIGS, ids=os.path.basename)
def test_config_builds_model(path):
    cfg = load_config(path, [])
    model = build_model_from_config(cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    if path.endswith(("_shapes.py", "_shapes.yaml")):
        assert model.num_classes == NUM_CLASSES


@pytest.mark.parametrize("path", YACS_CONFIGS, ids=os.path.basename)
def test_yacs_config_works_with_build_model(path):
    cfg = load_config(path, ["MODEL.DEVICE", "cpu"])
    assert isinstance(cfg, CfgNode)
    model = build_model(cfg)
    assert next(model.parameters()).device == torch.device("cpu")


def test_lazy_override_applies():
    cfg = load_config(SHAPES_CONFIG, ["train.max_iter=7", "model.test_score_thresh=0.3"])
    assert isinstance(cfg, DictConfig)
    assert cfg.train.max_iter == 7 and cfg.model.test_score_thresh == 0.3


def test_lazy_unknown_override_key_names_key_and_suggests():
    with pytest.raises(KeyError, match=r"train\.max_iters.*Did you mean: train\.max_iter"):
        load_config(SHAPES_CONFIG, ["train.max_iters=7"])


def test_lazy_override_of_a_default_constructor_argument():
    # FCOS takes test_topk_candidates, though the config leaves it at its default.
    cfg = load_config(SHAPES_CONFIG, ["model.test_topk_candidates=50"])
    assert cfg.model.test_topk_candidates == 50
    with pytest.raises(KeyError, match="model.test_topk_candidatez"):
        load_config(SHAPES_CONFIG, ["model.test_topk_candidatez=50"])


def test_lazy_malformed_override():
    with pytest.raises(ValueError, match="key=value"):
        load_config(SHAPES_CONFIG, ["train.max_iter"])


def test_yacs_unknown_override_key():
    path = os.path.join(REPO, "configs", "baselines", "retinanet_R_18_FPN_shapes.yaml")
    with pytest.raises(KeyError, match="SOLVER.MAX_ITERS"):
        load_config(path, ["SOLVER.MAX_ITERS", "3"])


def test_yacs_unknown_key_in_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("MODEL:\n  NOT_A_KEY: 1\n")
    with pytest.raises(KeyError, match="NOT_A_KEY"):
        load_config(str(bad), [])


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config("configs/nope.py", [])


def test_unsupported_extension():
    with pytest.raises(ValueError, match=r"\.py .*\.yaml"):
        load_config("configs/model.json", [])


def test_unregistered_dataset_is_a_clear_error():
    from detectron2.config import instantiate

    cfg = load_config(SHAPES_CONFIG, ["dataloader.train.dataset.names=no_such_dataset"])
    with pytest.raises(KeyError, match="no_such_dataset.*not registered"):
        instantiate(cfg.dataloader.train.dataset)
