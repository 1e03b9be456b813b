"""Checkpoints and training steps that a long run can rely on: non-finite weights are never
saved, ``--resume`` falls back from a truncated newest checkpoint, weights of another model are
refused, and a non-finite loss stops training before the optimizer step."""

import logging
import os

import pytest
import torch
from torch import nn

import anchorfree  # noqa: F401
from anchorfree.engine import CheckedCheckpointer, refuse_partial_weights
from anchorfree.engine.checkpoint import (
    CheckpointReadError,
    NonFiniteWeightsError,
    WeightsMismatchError,
)
from anchorfree.engine.training import CheckedSimpleTrainer

from detectron2.checkpoint import DetectionCheckpointer


class Detector(nn.Module):
    """A backbone with most of the parameters, and a head with a small class layer."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.backbone = nn.Linear(16, 16)
        self.head = nn.Sequential(nn.Linear(16, 4), nn.Linear(4, num_classes))


def _checkpointer(tmp_path, model=None):
    model = model or Detector()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return CheckedCheckpointer(model, str(tmp_path), optimizer=optimizer), model


def test_non_finite_weights_are_not_saved(tmp_path):
    checkpointer, model = _checkpointer(tmp_path)
    checkpointer.save("model_0000009")
    with torch.no_grad():
        model.backbone.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteWeightsError, match=r"1 of 6 tensors.*backbone\.weight") as e:
        checkpointer.save("model_0000019")
    assert "last good checkpoint is " + os.path.join(str(tmp_path), "model_0000009.pth") in str(
        e.value
    )
    assert not (tmp_path / "model_0000019.pth").exists()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000009.pth"
    # Detectron2's checkpointer writes them and points last_checkpoint at them.
    DetectionCheckpointer(model, str(tmp_path)).save("model_0000019")
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000019.pth"


def test_resume_falls_back_from_a_truncated_newest_checkpoint(tmp_path, caplog):
    checkpointer, model = _checkpointer(tmp_path)
    checkpointer.save("model_0000004", iteration=4)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    os.utime(tmp_path / "model_0000004.pth", (1, 1))  # older than the next one
    with torch.no_grad():
        model.backbone.weight.add_(1.0)
    checkpointer.save("model_0000009", iteration=9)
    newest = tmp_path / "model_0000009.pth"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, e.g. by a full disk

    resumed, fresh = _checkpointer(tmp_path)
    with caplog.at_level(logging.WARNING):
        checkpoint = resumed.resume_or_load("", resume=True)
    assert checkpoint["iteration"] == 4
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in expected.items())
    assert f"Resumed from '{tmp_path}/model_0000004.pth' instead of the newest" in caplog.text
    assert f"newest checkpoint '{tmp_path}/model_0000009.pth', which cannot be read" in caplog.text
    with pytest.raises(Exception, match="(?i)zip|archive|central directory|EOF|unpickl"):
        DetectionCheckpointer(Detector(), str(tmp_path)).resume_or_load("", resume=True)


def test_resume_with_no_readable_checkpoint_names_them(tmp_path):
    checkpointer, _ = _checkpointer(tmp_path)
    checkpointer.save("model_final")
    (tmp_path / "model_final.pth").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CheckpointReadError, match="none of the checkpoints.*model_final.pth"):
        _checkpointer(tmp_path)[0].resume_or_load("", resume=True)


def test_weights_of_another_model_are_refused_a_new_class_count_is_not(tmp_path):
    state = Detector().state_dict()
    torch.save({"model": state}, tmp_path / "ours.pth")
    torch.save({"model": {"other.weight": torch.zeros(3)}}, tmp_path / "other.pth")
    backbone = {k: v for k, v in state.items() if k.startswith("backbone.")}  # 272 of 355
    torch.save({"model": backbone}, tmp_path / "backbone.pth")
    # Another class count: only the class layer (15 of 355 elements) is left out.
    model = refuse_partial_weights(Detector(num_classes=2))
    DetectionCheckpointer(model).load(str(tmp_path / "ours.pth"))
    with pytest.raises(WeightsMismatchError, match=r"cover 0% of its parameters \(6 of 6"):
        DetectionCheckpointer(refuse_partial_weights(Detector())).load(str(tmp_path / "other.pth"))
    with pytest.raises(WeightsMismatchError, match=r"leave its head untrained and cover 77%"):
        DetectionCheckpointer(refuse_partial_weights(Detector())).load(
            str(tmp_path / "backbone.pth")
        )
    # Without the check, Detectron2 loads nothing and says so only in the log.
    DetectionCheckpointer(Detector()).load(str(tmp_path / "other.pth"))


class NaNAtIteration(nn.Module):
    """Returns a finite loss, and a NaN one at iteration ``nan_at``."""

    def __init__(self, nan_at):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2))
        self.nan_at, self.calls = nan_at, 0

    def forward(self, batch):
        loss = (self.weight**2).sum()
        self.calls += 1
        bad = loss * float("nan") if self.calls - 1 == self.nan_at else loss
        return {"loss_cls": loss, "loss_box_reg": bad}


def _train(trainer_class, nan_at, max_iter=5):
    model = NaNAtIteration(nan_at)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = trainer_class(model, [[{}]] * max_iter, optimizer)
    weights = []
    trainer.register_hooks([])
    trainer.after_step = lambda: weights.append(model.weight.detach().clone())
    return trainer, model, weights


def test_non_finite_loss_stops_before_the_step_naming_term_and_iteration():
    trainer, model, weights = _train(CheckedSimpleTrainer, nan_at=3)
    with pytest.raises(FloatingPointError, match=r"iteration 3 \(rank 0: loss_box_reg=nan\)"):
        trainer.train(0, 5)
    assert len(weights) == 3 and torch.equal(model.weight.detach(), weights[-1])
    assert torch.isfinite(model.weight).all()
