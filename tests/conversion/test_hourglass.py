"""
Hourglass-104 converters (``--source cornernet``, ``--source centernet`` for
``large_hourglass``, ``--source mmdet`` for mmdetection's CornerNet) on synthetic checkpoints in
the originals' exact key layouts.

``layouts/cornernet_hourglass104.json`` and ``layouts/centernet_hourglass104.json`` are the
names and shapes of the original networks (princeton-vl/CornerNet ``models/CornerNet.py``
wrapped as its ``nnet`` saves it, xingyizhou/CenterNet ``get_large_hourglass_net`` with the
ctdet heads), built from their sources; ``layouts/mmdet_cornernet_hourglass104.json``
mmdetection's ``HourglassNet`` + ``CornerHead``, written out from its sources by hand (it is
not installed). ``layouts/anchorfree_*.json`` are this project's models of the two configs.

Most tests use meta tensors (names and shapes only; the conversion is a renaming, so the
converted tensors are the source's objects) and models built on the meta device; one converts
random weights and loads them into the real model.
"""

import json
import os

import pytest
import torch

from anchorfree.config import load_config
from anchorfree.conversion import (
    UnknownKeysError,
    check_against_model,
    convert_checkpoint,
)

from detectron2.config import instantiate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAYOUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layouts")


def read_layout(name: str) -> dict:
    with open(os.path.join(LAYOUTS, f"{name}.json")) as f:
        return json.load(f)


def as_checkpoint(source: str, state_dict: dict) -> dict:
    """A state dict in the file format of ``source``'s releases."""
    if source == "cornernet":  # a raw state dict
        return state_dict
    if source == "centernet":
        return {"epoch": 140, "state_dict": state_dict}
    return {"meta": {"mmdet_version": "2.x"}, "state_dict": state_dict}


def synthetic(layout: dict, device: str = "meta") -> dict:
    return {
        k: (torch.zeros if k.endswith("num_batches_tracked") else torch.randn)(
            shape, device=device, dtype=torch.long if k.endswith("num_batches_tracked") else None
        )
        for k, shape in layout.items()
    }


# source, recorded layout of the original, recorded layout of ours, config of the weights
CASES = {
    "cornernet": (
        "cornernet",
        "cornernet_hourglass104",
        "anchorfree_cornernet_hourglass104",
        "configs/CornerNet/cornernet_hourglass104.py",
    ),
    "centernet": (
        "centernet",
        "centernet_hourglass104",
        "anchorfree_centernet_hourglass104",
        "configs/CenterNet/centernet_hourglass104.py",
    ),
    "mmdet": (
        "mmdet",
        "mmdet_cornernet_hourglass104",
        "anchorfree_cornernet_hourglass104",
        "configs/CornerNet/cornernet_hourglass104_mmdet.py",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_recorded_layout_maps_onto_our_recorded_layout(case):
    source, theirs, ours, config = CASES[case]
    state_dict = synthetic(read_layout(theirs))
    converted = convert_checkpoint(source, as_checkpoint(source, state_dict))
    assert converted.config == config
    target = read_layout(ours)
    assert {k: list(v.shape) for k, v in converted.model.items()} == target
    # A renaming: every source tensor lands once, unchanged.
    assert sorted(map(id, converted.model.values())) == sorted(map(id, state_dict.values()))


# Keys whose place is not obvious from the names: the recursion, the shortcut, the pools' order
# (CornerNet's first pool of "tl" is TopPool, mmdetection's direction1 is "top"), the joins.
KNOWN_PAIRS = {
    "cornernet": {
        "module.kps.1.low2.low2.low2.low2.low2.3.bn2.running_var": (
            "backbone.hourglasses.1.inner.inner.inner.inner.inner.3.conv2.norm.running_var"
        ),
        # 384 -> 256 channels: the only up path with a shortcut.
        "module.kps.0.low2.low3.1.skip.0.weight": (
            "backbone.hourglasses.0.inner.up.1.shortcut.weight"
        ),
        "module.kps.0.low1.0.skip.1.bias": "backbone.hourglasses.0.down.0.shortcut.norm.bias",
        "module.kps.0.up1.1.conv1.weight": "backbone.hourglasses.0.skip.1.conv1.weight",
        "module.pre.0.bn.running_mean": "backbone.stem.0.norm.running_mean",
        "module.inters_.0.0.weight": "backbone.join_inputs.0.weight",
        "module.cnvs_.0.1.weight": "backbone.join_outputs.0.norm.weight",
        "module.inters.0.bn1.bias": "backbone.join_blocks.0.conv1.norm.bias",
        "module.cnvs.1.bn.weight": "backbone.out_convs.1.norm.weight",
        "module.tl_cnvs.1.p1_conv1.conv.weight": "heads.1.top_left.pool.branch_a.weight",
        "module.br_cnvs.0.p2_conv1.bn.bias": "heads.0.bottom_right.pool.branch_b.norm.bias",
        "module.br_cnvs.0.p_bn1.running_var": "heads.0.bottom_right.pool.merge.norm.running_var",
        "module.tl_cnvs.0.bn1.weight": "heads.0.top_left.pool.shortcut.norm.weight",
        "module.tl_cnvs.0.conv2.conv.weight": "heads.0.top_left.pool.out.weight",
        "module.tl_heats.1.1.bias": "heads.1.top_left.heatmap.2.bias",
        "module.br_tags.0.0.conv.bias": "heads.0.bottom_right.embedding.0.bias",
        "module.br_regrs.1.1.weight": "heads.1.bottom_right.offset.2.weight",
    },
    "centernet": {
        "kps.1.low2.low2.low2.low2.low2.0.conv1.weight": (
            "backbone.hourglasses.1.inner.inner.inner.inner.inner.0.conv1.weight"
        ),
        "pre.1.skip.0.weight": "backbone.stem.1.shortcut.weight",
        "hm.1.1.bias": "head.heatmap.1.2.bias",
        "wh.0.0.conv.weight": "head.wh.0.0.weight",
        "reg.1.1.weight": "head.offset.1.2.weight",
    },
    "mmdet": {
        "backbone.hourglass_modules.1.low2.low2.low2.low2.low2.3.bn2.weight": (
            "backbone.hourglasses.1.inner.inner.inner.inner.inner.3.conv2.norm.weight"
        ),
        "backbone.hourglass_modules.0.low2.low3.1.downsample.1.bias": (
            "backbone.hourglasses.0.inner.up.1.shortcut.norm.bias"
        ),
        "backbone.stem.1.0.downsample.0.weight": "backbone.stem.1.shortcut.weight",
        "backbone.stem.0.conv.weight": "backbone.stem.0.weight",
        "backbone.conv1x1s.0.bn.running_mean": "backbone.join_inputs.0.norm.running_mean",
        "backbone.remap_convs.0.conv.weight": "backbone.join_outputs.0.weight",
        "backbone.inters.0.conv2.weight": "backbone.join_blocks.0.conv2.weight",
        "backbone.out_convs.1.conv.weight": "backbone.out_convs.1.weight",
        "bbox_head.tl_pool.0.direction1_conv.conv.weight": "heads.0.top_left.pool.branch_a.weight",
        "bbox_head.br_pool.1.direction2_conv.bn.weight": (
            "heads.1.bottom_right.pool.branch_b.norm.weight"
        ),
        "bbox_head.br_pool.1.aftpool_conv.bn.bias": "heads.1.bottom_right.pool.merge.norm.bias",
        "bbox_head.tl_pool.1.conv1.conv.weight": "heads.1.top_left.pool.shortcut.weight",
        "bbox_head.tl_pool.1.conv2.bn.weight": "heads.1.top_left.pool.out.norm.weight",
        "bbox_head.tl_heat.0.1.conv.bias": "heads.0.top_left.heatmap.2.bias",
        "bbox_head.br_emb.1.0.conv.weight": "heads.1.bottom_right.embedding.0.weight",
        "bbox_head.tl_off.1.1.conv.weight": "heads.1.top_left.offset.2.weight",
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_known_keys_land_where_they_belong(case):
    source, theirs, _, _ = CASES[case]
    state_dict = synthetic(read_layout(theirs))
    converted = convert_checkpoint(source, as_checkpoint(source, state_dict)).model
    for key, target in KNOWN_PAIRS[case].items():
        assert converted[target] is state_dict[key], key


def test_cornernet_without_the_module_prefix():
    state_dict = synthetic(read_layout("cornernet_hourglass104"))
    unwrapped = {k[len("module.") :]: v for k, v in state_dict.items()}
    converted = convert_checkpoint("cornernet", unwrapped).model
    assert converted.keys() == read_layout("anchorfree_cornernet_hourglass104").keys()


@pytest.mark.parametrize("case", sorted(CASES))
def test_unknown_key_is_an_error_naming_it(case):
    source, theirs, _, _ = CASES[case]
    state_dict = synthetic(read_layout(theirs))
    # A key in the head's or backbone's namespace that the layout does not have.
    prefix = {"cornernet": "module.", "centernet": "", "mmdet": "bbox_head."}[case]
    extra = f"{prefix}tl_heats.2.0.conv.scale" if case != "mmdet" else f"{prefix}tl_heat.0.2.w"
    state_dict[extra] = torch.zeros(1, device="meta")
    # Named as the network calls it (the DataParallel prefix stripped).
    named = extra.removeprefix("module.")
    with pytest.raises(UnknownKeysError, match=named.replace(".", r"\.")):
        convert_checkpoint(source, as_checkpoint(source, state_dict))


@pytest.mark.parametrize("case", sorted(CASES))
def test_converted_fits_the_model_of_its_config(case):
    """The config's model built on the meta device (no memory for its 200M parameters)."""
    source, theirs, _, config = CASES[case]
    converted = convert_checkpoint(source, as_checkpoint(source, synthetic(read_layout(theirs))))
    with torch.device("meta"):
        model = instantiate(load_config(os.path.join(REPO, config)).model)
    check_against_model(model, converted.model)


def test_input_conventions_of_the_configs():
    """The released weights' input: CornerNet's and CenterNet's BGR with their COCO statistics,
    mmdetection's RGB with the ImageNet ones."""
    coco_bgr = [104.0136, 114.0342, 119.9166]
    for config, image_format, mean in (
        ("configs/CornerNet/cornernet_hourglass104.py", "BGR", coco_bgr),
        ("configs/CenterNet/centernet_hourglass104.py", "BGR", coco_bgr),
        ("configs/CornerNet/cornernet_hourglass104_mmdet.py", "RGB", [123.675, 116.28, 103.53]),
    ):
        cfg = load_config(os.path.join(REPO, config))
        assert cfg.dataloader.test.mapper.image_format == image_format, config
        assert cfg.model.pixel_mean == pytest.approx(mean, abs=1e-3), config


def test_random_weights_load_into_the_real_model_and_run():
    """Random CornerNet weights, converted, loaded strictly into the config's model, which then
    runs on a tiny image; the stem's weights are the source's values."""
    torch.manual_seed(0)
    state_dict = synthetic(read_layout("cornernet_hourglass104"), device="cpu")
    converted = convert_checkpoint("cornernet", state_dict).model
    model = instantiate(
        load_config(os.path.join(REPO, "configs/CornerNet/cornernet_hourglass104.py")).model
    )
    check_against_model(model, converted)
    model.load_state_dict(converted, strict=True)
    torch.testing.assert_close(
        model.backbone.stem[0].weight, state_dict["module.pre.0.conv.weight"], rtol=0, atol=0
    )
    model.eval()
    with torch.no_grad():
        (outputs,) = model.predict_heads(model.backbone(torch.randn(1, 3, 128, 128)), True)
    assert outputs.tl_heatmap.shape == (1, 80, 32, 32)
