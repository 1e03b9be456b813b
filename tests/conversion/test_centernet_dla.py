"""--source centernet on a DLA-34 checkpoint in the original's exact layout (names and shapes of
xingyizhou/CenterNet's DLASeg('dla34', head_conv=256) with the ImageNet classifier that the
released files carry, recorded in layouts/centernet_dla34.json), random values: every key is
converted or dropped with a reason, and the result fits the config's model exactly."""

import json
import os

import numpy as np
import pytest
import torch
from detector_testing import one_thread  # noqa: F401  (an autouse fixture)

import anchorfree.data  # noqa: F401  (registers the datasets the config names)
from anchorfree.config import get_predictor_cfg, load_config
from anchorfree.conversion import UnknownKeysError, check_against_model, convert_checkpoint
from anchorfree.conversion.centernet_dla import CONFIG
from tools.convert_checkpoint import main as convert_main

from detectron2.config import instantiate
from detectron2.engine import DefaultPredictor
from detectron2.structures import ImageList

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYOUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layouts", "centernet_dla34.json")


def released_state_dict(prefix: str = "") -> dict:
    with open(LAYOUT) as f:
        layout = json.load(f)
    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in layout.items():
        if name.endswith("num_batches_tracked"):
            state[prefix + name] = torch.tensor(1000, dtype=torch.long)
        else:  # positive, so that running variances are valid
            state[prefix + name] = torch.rand(shape, generator=generator) + 0.5
    return state


@pytest.fixture(scope="module")
def model():
    return instantiate(load_config(os.path.join(REPO, CONFIG)).model).eval()


def test_the_released_layout_converts_through_the_tool_and_runs(tmp_path, model):
    source, output = tmp_path / "ctdet_coco_dla_2x.pth", tmp_path / "converted.pth"
    state = released_state_dict()
    torch.save({"epoch": 230, "state_dict": state}, source)
    # The tool builds the config's model and checks the weights fit it exactly.
    convert_main(["--source", "centernet", str(source), str(output)])
    saved = torch.load(output, weights_only=True)
    assert saved["config"] == CONFIG == "configs/CenterNet/centernet_dla34_2x.py"
    converted = saved["model"]
    check_against_model(model, converted)
    assert set(converted) == set(model.state_dict())
    # 400 keys: 2 of the ImageNet classifier and 12 of the two discarded projections dropped.
    assert len(state) - len(converted) == 14
    assert not any(".fc." in k for k in converted)
    copies = {
        "base.base_layer.0.weight": "backbone.bottom_up.stem.weight",
        "base.level1.1.running_var": "backbone.bottom_up.level1.0.norm.running_var",
        "base.level3.tree2.root.bn.bias": "backbone.bottom_up.level3.tree2.root.conv.norm.bias",
        "base.level5.project.0.weight": "backbone.bottom_up.level5.project.weight",
        "base.level4.tree1.tree2.bn2.weight": (
            "backbone.bottom_up.level4.tree1.tree2.conv2.norm.weight"
        ),
        "dla_up.ida_2.proj_3.conv.conv_offset_mask.weight": (
            "backbone.dla_up.2.steps.2.project.conv.offset_mask.weight"
        ),
        "dla_up.ida_0.node_1.actf.0.running_mean": (
            "backbone.dla_up.0.steps.0.node.norm.running_mean"
        ),
        "ida_up.up_2.weight": "backbone.ida_up.steps.1.upsample.weight",
        "ida_up.proj_1.conv.bias": "backbone.ida_up.steps.0.project.conv.bias",
        "hm.2.bias": "head.heatmap.0.2.bias",
        "wh.0.weight": "head.wh.0.0.weight",
        "reg.2.weight": "head.offset.0.2.weight",
    }
    for original, ours in copies.items():
        assert torch.equal(converted[ours], state[original]), original
    model.load_state_dict(converted)
    with torch.no_grad():
        outputs = model.forward_raw(ImageList(torch.randn(1, 3, 64, 64), [(64, 64)]))
    assert outputs.heatmap.shape == (1, 80, 16, 16) and outputs.wh.shape == (1, 2, 16, 16)


def test_dataparallel_prefix_converts_too(model):
    converted = convert_checkpoint("centernet", {"state_dict": released_state_dict("module.")})
    check_against_model(model, converted.model)
    assert converted.architecture.startswith("CenterNet DLA-34")


def test_an_unknown_key_is_an_error_naming_it():
    state = released_state_dict()
    state["dla_up.ida_0.extra_1.weight"] = torch.ones(1)
    with pytest.raises(UnknownKeysError, match=r"dla_up\.ida_0\.extra_1\.weight"):
        convert_checkpoint("centernet", {"epoch": 1, "state_dict": state})


def test_converted_weights_serve_default_predictor(tmp_path):
    """The user's path: convert, then DefaultPredictor with train.init_checkpoint: the weights
    load unchanged and the original's test pipeline gives detections on the image's pixels."""
    generator = torch.Generator().manual_seed(1)
    state = {}
    for name, tensor in released_state_dict().items():
        if name.endswith("running_var"):
            state[name] = torch.ones_like(tensor)
        elif tensor.is_floating_point():
            state[name] = 0.05 * torch.randn(tensor.shape, generator=generator)
        else:
            state[name] = tensor
    source, output = tmp_path / "released.pth", tmp_path / "converted.pth"
    torch.save({"epoch": 1, "state_dict": state}, source)
    convert_main(["--source", "centernet", str(source), str(output)])
    cfg = get_predictor_cfg(
        os.path.join(REPO, CONFIG), [f"train.init_checkpoint={output}", "train.device=cpu"]
    )
    assert (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.FORMAT) == (0, "BGR")  # the model warps itself
    predictor = DefaultPredictor(cfg)
    converted = torch.load(output, weights_only=True)["model"]
    loaded = predictor.model.state_dict()
    assert set(converted) == set(loaded)
    assert all(torch.equal(loaded[k], v) for k, v in converted.items())
    image = np.random.RandomState(0).randint(0, 256, (97, 130, 3)).astype(np.uint8)
    instances = predictor(image)["instances"]
    assert instances.image_size == (97, 130) and len(instances) == 100
    assert torch.isfinite(instances.pred_boxes.tensor).all()
