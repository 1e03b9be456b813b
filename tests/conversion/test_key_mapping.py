import re

import pytest
import torch
import torchvision
from torch import nn

from anchorfree.conversion import (
    IncompatibleWeightsError,
    Rule,
    UnknownKeysError,
    check_against_model,
    convert_checkpoint,
    find_state_dict,
    read_checkpoint,
    rename_keys,
    resnet_rules,
    strip_prefix,
)

from detectron2.modeling.backbone import BasicStem, ResNet


def test_rename_keys_first_rule_wins_with_templates_functions_and_transforms():
    state = {"a.1.w": torch.ones(2), "a.2.w": torch.zeros(3), "skip.me": torch.ones(1)}
    rules = [
        Rule(r"a\.1\.(w)", r"first.\1", transform=lambda t: 2 * t),
        Rule(r"a\.(\d)\.w", lambda m: f"stage{int(m[1]) + 1}.weight"),
        Rule(r"skip\..*", None, reason="not needed"),
    ]
    out = rename_keys(state, rules, source="test")
    assert sorted(out) == ["first.w", "stage3.weight"]
    assert torch.equal(out["first.w"], 2 * torch.ones(2))


def test_unknown_keys_are_an_error_naming_them():
    with pytest.raises(UnknownKeysError, match="stray.key") as error:
        rename_keys(
            {"known": torch.ones(1), "stray.key": torch.ones(1)},
            [Rule("known", "k")],
            source="test",
        )
    assert "1 keys" in str(error.value)


def test_two_keys_onto_one_are_an_error():
    rules = [Rule(r"(a|b)", "same")]
    with pytest.raises(UnknownKeysError, match="a and b -> same"):
        rename_keys({"a": torch.ones(1), "b": torch.ones(1)}, rules, source="test")


def test_dropping_needs_a_reason():
    with pytest.raises(ValueError, match="without a reason"):
        Rule("x", None)


def test_strip_prefix():
    assert list(strip_prefix({"module.a": 1, "b": 2}, "module.")) == ["a", "b"]


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_rules_turn_torchvision_into_detectron2_resnet_exactly(depth):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, f"resnet{depth}")().eval()
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):  # stats that matter
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    rules = resnet_rules("", "") + [Rule(r"fc\..*", None, reason="ImageNet classifier")]
    converted = rename_keys(reference.state_dict(), rules, source="torchvision")
    # torchvision's Bottleneck strides in its 3x3 conv (ResNet v1.5).
    stride = {} if depth < 50 else {"stride_in_1x1": False}
    stages = ResNet.make_default_stages(depth, norm="BN", **stride)
    ours = ResNet(BasicStem(norm="BN"), stages, out_features=["res5"]).eval()
    check_against_model(ours, converted)
    ours.load_state_dict(converted)
    x = torch.randn(1, 3, 96, 128)
    body = nn.Sequential(*list(reference.children())[:-2])
    with torch.no_grad():
        assert torch.allclose(ours(x)["res5"], body(x), atol=1e-5)


def test_check_against_model_names_missing_unexpected_and_shapes():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    state = dict(model.state_dict())
    state.pop("1.num_batches_tracked")
    check_against_model(model, state)  # counters may be absent
    state["0.weight"] = torch.ones(3, 1, 1, 1)
    state.pop("1.bias")
    state["extra"] = torch.ones(1)
    with pytest.raises(IncompatibleWeightsError) as error:
        check_against_model(model, state)
    message = str(error.value)
    assert re.search(r"1 missing: 1\.bias", message)
    assert "1 unexpected: extra" in message
    assert "0.weight: (3, 1, 1, 1) vs the model's (2, 1, 1, 1)" in message


def test_find_state_dict_reads_containers_and_refuses_other_things():
    tensors = {"a": torch.ones(1)}
    assert find_state_dict({"state_dict": tensors, "epoch": 3}, ["state_dict"], source="x") == (
        tensors
    )
    assert find_state_dict(tensors, ["state_dict"], source="x") == tensors
    with pytest.raises(ValueError, match="non-tensor entries"):
        find_state_dict({"a": torch.ones(1), "epoch": 3}, ["model"], source="x")
    with pytest.raises(ValueError, match="is a dict"):
        find_state_dict([1], ["model"], source="x")


class _NotATensor:
    pass


def test_read_checkpoint_loads_pickles_of_other_objects_with_a_warning(tmp_path, caplog):
    plain = tmp_path / "plain.pth"
    torch.save({"state_dict": {"a": torch.ones(1)}}, plain)
    assert torch.equal(read_checkpoint(str(plain))["state_dict"]["a"], torch.ones(1))
    other = tmp_path / "other.pth"
    torch.save({"meta": _NotATensor(), "state_dict": {"a": torch.ones(1)}}, other)
    with caplog.at_level("WARNING"):
        loaded = read_checkpoint(str(other))
    assert isinstance(loaded["meta"], _NotATensor)
    assert "source you trust" in caplog.text


def test_unknown_source_and_unknown_networks_are_errors():
    with pytest.raises(ValueError, match="unknown checkpoint source 'nope'"):
        convert_checkpoint("nope", {})
    with pytest.raises(ValueError, match=r"top-level keys are \['mystery'\]"):
        convert_checkpoint("centernet", {"state_dict": {"module.mystery.w": torch.ones(1)}})
    with pytest.raises(ValueError, match="its head has"):
        convert_checkpoint("mmdet", {"state_dict": {"bbox_head.odd.w": torch.ones(1)}})
