"""
CenterNet ResNet-DCN checkpoints (xingyizhou/CenterNet's resdcn18/101, mmdetection's R-18 with
and without DCN) convert into the models of the configs the converter names. The synthetic
checkpoints have the sources' exact names and shapes (layouts/*.json: the original network
built from its source; mmdetection's from its modules' structure, see each file's
description), with random tensors.
"""

import json
import os

import pytest
import torch

from anchorfree.config import load_config
from anchorfree.conversion import UnknownKeysError, check_against_model, convert_checkpoint

from detectron2.config import instantiate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYOUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layouts")

# layout, source, the config the weights must fit, architecture
CASES = [
    (
        "centernet_resdcn18",
        "centernet",
        "configs/CenterNet/centernet_R_18_140e.py",
        "CenterNet ResNet-18-DCN",
    ),
    (
        "centernet_resdcn101",
        "centernet",
        "configs/CenterNet/centernet_R_101_dcn_140e.py",
        "CenterNet ResNet-101-DCN",
    ),
    (
        "mmdet_centernet_r18_dcnv2",
        "mmdet",
        "configs/CenterNet/centernet_R_18_dcn_140e_mmdet.py",
        "CenterNet ResNet-18-DCN (mmdetection)",
    ),
    (
        "mmdet_centernet_r18",
        "mmdet",
        "configs/CenterNet/centernet_R_18_140e_mmdet.py",
        "CenterNet ResNet-18 (mmdetection)",
    ),
]


def layout(name):
    with open(os.path.join(LAYOUTS, f"{name}.json")) as f:
        return json.load(f)["tensors"]


def random_state_dict(shapes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {
        k: torch.tensor(7)
        if k.endswith("num_batches_tracked")
        else torch.randn(s, generator=generator)
        for k, s in shapes.items()
    }


def released(source, state_dict):
    """The checkpoint as each source saves it: CenterNet's ``{"epoch", "state_dict"}`` with
    DataParallel's ``module.`` prefix, mmdetection's ``{"meta", "state_dict"}``."""
    if source == "centernet":
        return {"epoch": 140, "state_dict": {f"module.{k}": v for k, v in state_dict.items()}}
    return {"meta": {"epoch": 140}, "state_dict": state_dict}


@pytest.fixture(scope="module")
def models():
    built = {}

    def model(config):
        if config not in built:
            built[config] = instantiate(load_config(os.path.join(REPO, config)).model).eval()
        return built[config]

    return model


@pytest.mark.parametrize("name, source, config, architecture", CASES, ids=[c[0] for c in CASES])
def test_converts_into_the_named_configs_model_exactly(name, source, config, architecture, models):
    state_dict = random_state_dict(layout(name))
    converted = convert_checkpoint(source, released(source, state_dict))
    assert (converted.config, converted.architecture) == (config, architecture)
    assert len(converted.model) == len(state_dict)  # nothing dropped, nothing invented
    model = models(config)
    check_against_model(model, converted.model)
    model.load_state_dict(converted.model)
    # The tensors land where they belong (names as the layouts, not as the shapes, decide).
    if source == "centernet":
        pairs = {
            "deconv_layers.6.conv_offset_mask.weight": "backbone.stages.1.0.offset_mask.weight",
            "deconv_layers.12.bias": "backbone.stages.2.0.bias",
            "deconv_layers.16.running_var": "backbone.stages.2.4.running_var",
            "reg.2.weight": "head.offset.0.2.weight",
            "layer3.1.bn2.running_mean": "backbone.bottom_up.res4.1.conv2.norm.running_mean",
        }
    else:
        pairs = {
            "neck.deconv_layers.3.conv.weight": "backbone.stages.1.3.weight",
            "neck.deconv_layers.4.bn.bias": "backbone.stages.2.1.bias",
            "bbox_head.offset_head.0.weight": "head.offset.0.0.weight",
            "backbone.layer2.0.downsample.0.weight": "backbone.bottom_up.res3.0.shortcut.weight",
        }
        if "dcnv2" in name:
            pairs["neck.deconv_layers.2.conv.conv_offset.bias"] = (
                "backbone.stages.1.0.offset_mask.bias"
            )
    parameters = model.state_dict()
    for theirs, ours in pairs.items():
        assert torch.equal(parameters[ours], state_dict[theirs]), (theirs, ours)


def test_original_fc_is_dropped_and_unknown_keys_are_named():
    state_dict = random_state_dict(layout("centernet_resdcn18"))
    with_fc = dict(state_dict, **{"fc.weight": torch.ones(1000, 512), "fc.bias": torch.ones(1000)})
    converted = convert_checkpoint("centernet", released("centernet", with_fc))
    assert not any(k.startswith("fc") for k in converted.model)
    assert len(converted.model) == len(state_dict)
    stray = dict(state_dict, **{"deconv_layers.2.weight": torch.ones(1)})  # a ReLU holds none
    with pytest.raises(UnknownKeysError, match=r"deconv_layers\.2\.weight"):
        convert_checkpoint("centernet", released("centernet", stray))
    mmdet = random_state_dict(layout("mmdet_centernet_r18_dcnv2"))
    mmdet["bbox_head.size_head.0.weight"] = torch.ones(1)
    with pytest.raises(UnknownKeysError, match=r"bbox_head\.size_head\.0\.weight"):
        convert_checkpoint("mmdet", released("mmdet", mmdet))


@pytest.mark.parametrize(
    "name, source", [("centernet_resdcn18", "centernet"), ("mmdet_centernet_r18", "mmdet")]
)
def test_an_unreleased_depth_is_a_clear_error(name, source):
    state_dict = random_state_dict(layout(name))
    prefix = "layer3." if source == "centernet" else "backbone.layer3."
    # A third stage of 6 blocks, as ResNet-34/50 have.
    for block in range(2, 6):
        state_dict[f"{prefix}{block}.conv1.weight"] = torch.ones(1)
    with pytest.raises(ValueError, match=r"has 6 blocks in .*layer3.*ResNet-18 \(2 blocks\)"):
        convert_checkpoint(source, released(source, state_dict))


def test_a_resnet_without_dcn_from_the_original_is_refused():
    state_dict = {
        k: v
        for k, v in random_state_dict(layout("centernet_resdcn18")).items()
        if "conv_offset_mask" not in k
    }
    with pytest.raises(ValueError, match="msra_resnet.py"):
        convert_checkpoint("centernet", released("centernet", state_dict))
