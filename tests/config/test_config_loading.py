"""LazyConfig loading: overrides apply; bad configs and overrides fail clearly (every leaf
config is built and served in test_predictor_cfg.py)."""

import os

import pytest
from omegaconf import DictConfig

import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import YacsConfigRemovedError, load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPES_CONFIG = os.path.join(REPO, "configs", "baselines", "fcos_R_18_FPN_shapes.py")


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


def test_yaml_config_is_refused_naming_the_py_to_use(tmp_path):
    yaml = tmp_path / "retinanet_R_18_FPN_shapes.yaml"
    yaml.write_text("MODEL:\n  META_ARCHITECTURE: RetinaNet\n")
    (tmp_path / "retinanet_R_18_FPN_shapes.py").write_text("")
    with pytest.raises(YacsConfigRemovedError, match=r"yacs configs were removed.*_shapes\.py"):
        load_config(str(yaml), [])


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
