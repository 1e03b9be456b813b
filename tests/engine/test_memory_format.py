"""train.channels_last (anchorfree.engine.device.place_model): a model in the channels-last
memory format trains and predicts as the same model in the default format, its checkpoints load
in either format, and training, evaluation and the predictor bridge all place it so."""

import copy
import os

import pytest
import torch
from detector_testing import (  # noqa: F401  (one_thread: an autouse fixture)
    assert_same_detections,
    one_thread,
    two_object_batch,
)

import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import check_training_options, get_predictor_cfg, load_config
from anchorfree.engine import build_model_from_config
from anchorfree.engine.device import place_model

from detectron2.config import instantiate
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# CPU-sized detectors, one per meta-architecture, with the overrides that make a randomly
# initialized one decode every candidate (its scores sit under the threshold). CornerNet's is
# the small Hourglass: the narrow FPN-P2 one pairs no corners at initialization.
CPU_CONFIGS = {
    os.path.join(REPO, "configs", folder, name): opts
    for folder, name, opts in [
        ("FCOS", "fcos_narrow_FPN_shapes.py", ["model.postprocessor.score_thresh=0.0"]),
        ("CenterNet", "centernet_narrow_FPN_P2_shapes.py", []),
        ("CornerNet", "cornernet_hourglass_small_shapes.py", []),
        ("baselines", "retinanet_narrow_FPN_shapes.py", ["model.test_score_thresh=0.0"]),
    ]
}


def _convolution_weights(model):
    return [p for p in model.parameters() if p.dim() == 4]


def _is_channels_last(model) -> bool:
    weights = _convolution_weights(model)
    return bool(weights) and all(
        # A 1x1 kernel is both formats at once; the others must be strided channels-last.
        w.is_contiguous(memory_format=torch.channels_last)
        and (w.shape[2:] == (1, 1) or not w.is_contiguous())
        for w in weights
    )


def _losses_and_gradients(model, batch):
    model.train()
    model.zero_grad()
    with EventStorage():
        losses = model(batch)
    sum(losses.values()).backward()
    return losses, {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


def _detections(model, batch):
    model.eval()
    with torch.no_grad():
        return [r["instances"] for r in model([{"image": x["image"]} for x in batch])]


@pytest.mark.parametrize("path", CPU_CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_channels_last_trains_and_predicts_as_the_default_format(path):
    cfg = load_config(path, CPU_CONFIGS[path])
    # In float64 (where the losses keep it): the formats sum in different orders, and float32
    # rounding alone moves near-cancelling gradients (BatchNorm's at initialization) by
    # several percent.
    torch.manual_seed(0)
    model = instantiate(cfg.model).double()
    twin = place_model(copy.deepcopy(model), "cpu", channels_last=True)
    model = place_model(model, "cpu")
    assert _is_channels_last(twin) and not _is_channels_last(model)
    batch = two_object_batch([(200, 249), (131, 97)])

    losses, grads = _losses_and_gradients(model, batch)
    twin_losses, twin_grads = _losses_and_gradients(twin, batch)
    assert set(twin_losses) == set(losses)
    for key, value in losses.items():
        torch.testing.assert_close(twin_losses[key], value, rtol=1e-6, atol=1e-9)
    assert set(twin_grads) == set(grads)
    for name, grad in grads.items():
        assert float((twin_grads[name] - grad).norm()) <= 1e-5 * float(grad.norm()) + 1e-12, name

    # Evaluation after that step (BatchNorm statistics updated alike), in float32 as deployed,
    # and the twin's checkpoint loaded into a model in the default format: the twin's
    # detections (ranks may swap between near-equal scores, so matched by box).
    twin.float()
    restored = place_model(instantiate(cfg.model), "cpu")
    restored.load_state_dict(twin.state_dict())
    assert not _is_channels_last(restored)
    expected = _detections(twin, batch)
    for got in (_detections(model.float(), batch), _detections(restored, batch)):
        for a, b in zip(got, expected):
            assert len(b) > 0
            assert_same_detections(
                a.pred_boxes.tensor,
                a.scores,
                a.pred_classes,
                b.pred_boxes.tensor,
                b.scores,
                b.pred_classes,
            )


def test_training_evaluation_and_the_predictor_place_the_model_as_configured():
    path = next(iter(CPU_CONFIGS))
    for channels_last in (False, True):
        opts = ["train.device=cpu", f"train.channels_last={str(channels_last).lower()}"]
        assert _is_channels_last(build_model_from_config(load_config(path, opts))) is channels_last
        cfg = get_predictor_cfg(path, opts, allow_random_weights=True)
        assert _is_channels_last(build_model(cfg)) is channels_last


def test_channels_last_must_be_a_bool():
    cfg = load_config(next(iter(CPU_CONFIGS)), ["train.channels_last=1"])
    with pytest.raises(ValueError, match=r"train.channels_last=1: expected true or false"):
        check_training_options(cfg, num_processes=1)
