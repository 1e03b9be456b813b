"""The FCOS converters (``--source fcos-tianzhi``, ``fcos-adelaidet``, ``mmdet``) on synthetic
checkpoints in each original's exact key layout (``layouts/*.json``: names and shapes of the
original networks, see ``layouts/README.md``), random tensors of those shapes: every key
converted, the weights fitting the named config's model exactly, and unknown or unsupported
keys refused by name."""

import json
import os

import pytest
import torch

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
from anchorfree.config import load_config
from anchorfree.conversion import UnknownKeysError, check_against_model, convert_checkpoint

from detectron2.config import instantiate

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYOUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layouts")


def random_state_dict(layout: str) -> dict:
    """Random tensors with the names and shapes of ``layouts/<layout>.json`` (variances
    positive, BatchNorm counters integer)."""
    with open(os.path.join(LAYOUTS, f"{layout}.json")) as f:
        shapes = json.load(f)
    generator = torch.Generator().manual_seed(0)
    state_dict = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state_dict[key] = torch.tensor(1000)
        elif key.endswith("running_var"):
            state_dict[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state_dict[key] = torch.randn(shape, generator=generator)
    return state_dict


def tianzhi_checkpoint(layout: str) -> dict:
    return {
        "model": random_state_dict(layout),
        "optimizer": {"state": {}, "param_groups": []},
        "scheduler": {"last_epoch": 90000},
        "iteration": 90000,
    }


def assert_fits(config: str, model_weights: dict) -> None:
    model = instantiate(load_config(os.path.join(REPOSITORY, config)).model)
    check_against_model(model, model_weights)


def test_tianzhi_imprv_R_50():
    checkpoint = tianzhi_checkpoint("fcos_tianzhi_FCOS_imprv_R_50_FPN_1x")
    source = checkpoint["model"]
    converted = convert_checkpoint("fcos-tianzhi", checkpoint)
    assert converted.config == "configs/FCOS/fcos_imprv_R_50_FPN_1x_tianzhi.py"
    assert len(converted.model) == len(source)
    model = converted.model
    assert model["head.cls_score.weight"] is source["module.rpn.head.cls_logits.weight"]
    assert model["head.ctrness.bias"] is source["module.rpn.head.centerness.bias"]
    assert model["head.bbox_subnet.10.weight"] is source["module.rpn.head.bbox_tower.10.weight"]
    assert model["head.scales.4.scale"] is source["module.rpn.head.scales.4.scale"]
    # maskrcnn-benchmark numbers the FPN convs by ResNet stage (C3 = 2).
    assert model["backbone.fpn_lateral3.weight"] is source["module.backbone.fpn.fpn_inner2.weight"]
    assert model["backbone.fpn_output5.bias"] is source["module.backbone.fpn.fpn_layer4.bias"]
    assert (
        model["backbone.top_block.p7.weight"] is source["module.backbone.fpn.top_blocks.p7.weight"]
    )
    assert (
        model["backbone.bottom_up.res4.5.conv3.weight"]
        is source["module.backbone.body.layer3.5.conv3.weight"]
    )
    # maskrcnn-benchmark's frozen BatchNorm has no eps, Detectron2's adds 1e-5 to running_var.
    torch.testing.assert_close(
        model["backbone.bottom_up.stem.conv1.norm.running_var"] + 1e-5,
        source["module.backbone.body.stem.bn1.running_var"],
    )
    torch.testing.assert_close(
        model["backbone.bottom_up.res2.0.shortcut.norm.running_mean"],
        source["module.backbone.body.layer1.0.downsample.1.running_mean"],
    )
    assert_fits(converted.config, model)
    # The paper's model has the same tensors: its config fits them too.
    assert_fits("configs/FCOS/fcos_R_50_FPN_1x_tianzhi.py", model)


def test_tianzhi_X_101_32x8d():
    converted = convert_checkpoint(
        "fcos-tianzhi", tianzhi_checkpoint("fcos_tianzhi_FCOS_imprv_X_101_32x8d_FPN_2x")
    )
    assert converted.config == "configs/FCOS/fcos_imprv_X_101_32x8d_FPN_2x_tianzhi.py"
    assert "ResNeXt-101 32x8d" in converted.architecture
    assert_fits(converted.config, converted.model)


def test_adelaidet_R_50():
    source = random_state_dict("fcos_adelaidet_FCOS_R_50_1x")
    converted = convert_checkpoint("fcos-adelaidet", {"model": source, "iteration": 90000})
    assert converted.config == "configs/FCOS/fcos_R_50_FPN_1x_adelaidet.py"
    model = converted.model
    assert len(model) == len(source)
    head = "proposal_generator.fcos_head."
    assert model["head.cls_subnet.1.weight"] is source[f"{head}cls_tower.1.weight"]
    assert model["head.ctrness.weight"] is source[f"{head}ctrness.weight"]
    assert model["backbone.fpn_lateral4.bias"] is source["backbone.fpn_lateral4.bias"]
    assert_fits(converted.config, model)


def test_adelaidet_X_101_64x4d_and_its_pixel_buffers():
    source = random_state_dict("fcos_adelaidet_FCOS_MS_X_101_64x4d_2x")
    # Detectron2 before v0.3 saved the input normalization buffers with the weights.
    source["pixel_mean"] = torch.tensor([103.53, 116.28, 123.675]).view(3, 1, 1)
    source["pixel_std"] = torch.ones(3, 1, 1)
    converted = convert_checkpoint("fcos-adelaidet", {"model": source})
    assert converted.config == "configs/FCOS/fcos_X_101_64x4d_FPN_2x_adelaidet.py"
    assert "pixel_mean" not in converted.model
    assert_fits(converted.config, converted.model)


def test_mmdet_R_50_caffe():
    source = random_state_dict("fcos_mmdet_fcos_r50_caffe_fpn_gn-head_1x_coco")
    checkpoint = {"meta": {"mmdet_version": "2.x", "CLASSES": ["person"]}, "state_dict": source}
    converted = convert_checkpoint("mmdet", checkpoint)
    assert converted.config == "configs/FCOS/fcos_R_50_FPN_1x_mmdet.py"
    model = converted.model
    assert model["head.cls_subnet.3.weight"] is source["bbox_head.cls_convs.1.conv.weight"]
    assert model["head.bbox_subnet.4.bias"] is source["bbox_head.reg_convs.1.gn.bias"]
    # Its tower convs have no bias (GroupNorm follows): zeros compute the same.
    assert torch.equal(model["head.cls_subnet.0.bias"], torch.zeros(256))
    assert model["head.scales.2.scale"].shape == (1,)
    assert model["backbone.top_block.p6.weight"] is source["neck.fpn_convs.3.conv.weight"]
    assert model["backbone.fpn_output4.weight"] is source["neck.fpn_convs.1.conv.weight"]
    assert not any(k.endswith("num_batches_tracked") for k in model)
    assert_fits(converted.config, model)


def test_unknown_keys_are_errors_naming_them():
    checkpoint = tianzhi_checkpoint("fcos_tianzhi_FCOS_imprv_R_50_FPN_1x")
    checkpoint["model"]["module.rpn.head.iou_pred.weight"] = torch.zeros(1, 256, 3, 3)
    with pytest.raises(UnknownKeysError, match=r"rpn\.head\.iou_pred\.weight"):
        convert_checkpoint("fcos-tianzhi", checkpoint)

    source = random_state_dict("fcos_adelaidet_FCOS_R_50_1x")
    source["proposal_generator.fcos_head.top_module.weight"] = torch.zeros(1)
    with pytest.raises(UnknownKeysError, match=r"fcos_head\.top_module\.weight"):
        convert_checkpoint("fcos-adelaidet", {"model": source})

    source = random_state_dict("fcos_mmdet_fcos_r50_caffe_fpn_gn-head_1x_coco")
    source["bbox_head.conv_iou.weight"] = torch.zeros(1)
    with pytest.raises(UnknownKeysError, match=r"bbox_head\.conv_iou\.weight"):
        convert_checkpoint("mmdet", {"state_dict": source})


def test_deformable_and_shared_tower_models_are_refused():
    checkpoint = tianzhi_checkpoint("fcos_tianzhi_FCOS_imprv_R_50_FPN_1x")
    # FCOS_imprv_dcnv2_*: maskrcnn-benchmark's DFConv2d as the 3x3 conv of the blocks.
    checkpoint["model"]["module.backbone.body.layer2.0.conv2.offset.weight"] = torch.zeros(27)
    with pytest.raises(ValueError, match="deformable"):
        convert_checkpoint("fcos-tianzhi", checkpoint)

    source = random_state_dict("fcos_adelaidet_FCOS_R_50_1x")
    source["proposal_generator.fcos_head.share_tower.0.weight"] = torch.zeros(256, 256, 3, 3)
    with pytest.raises(ValueError, match="shared"):
        convert_checkpoint("fcos-adelaidet", {"model": source})


def test_the_command_line_takes_the_users_config(tmp_path, monkeypatch):
    from tools.convert_checkpoint import main

    # The weights do not tell the paper's FCOS from the improved one: --config-file says.
    paper = "configs/FCOS/fcos_R_50_FPN_1x_tianzhi.py"
    source, output = tmp_path / "FCOS_R_50_FPN_1x.pth", tmp_path / "converted.pth"
    torch.save(tianzhi_checkpoint("fcos_tianzhi_FCOS_imprv_R_50_FPN_1x"), source)
    monkeypatch.chdir(REPOSITORY)
    main(["--source", "fcos-tianzhi", str(source), str(output), "--config-file", paper])
    saved = torch.load(output, weights_only=True)
    assert saved["config"] == paper
    assert saved["model"]["head.cls_score.weight"].shape == (80, 256, 3, 3)
