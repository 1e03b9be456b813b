"""Faults that must not end, corrupt or lose a run, through train_net.py as a user meets them:
weights that turn NaN in a step whose loss still looked finite, and a truncated newest
checkpoint at ``--resume``."""

import os

import pytest
import torch
from train_net_testing import REPO, check_ok, lazy_overrides, run_script, subprocess_env

FCOS = os.path.join(REPO, "configs", "FCOS", "fcos_narrow_FPN_shapes_demo.py")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return subprocess_env(str(tmp_path_factory.mktemp("datasets")))


def _all_finite(path):
    state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.slow
def test_weights_turning_nan_are_never_saved_and_resume_continues(tmp_path, env):
    config = tmp_path / "fcos_nan_at_5.py"
    config.write_text(
        "from fault_injection import WeightsTurnNaN\n"
        "from detectron2.config import LazyCall as L, LazyConfig\n"
        f"base = LazyConfig.load({FCOS!r})\n"
        "model = L(WeightsTurnNaN)(detector=base.model, at_call=5)\n"
        "dataloader, optimizer, train = base.dataloader, base.optimizer, base.train\n"
        "lr_multiplier = base.lr_multiplier\n"
        "del base\n"
    )
    out = tmp_path / "out"
    # Checkpoints after iterations 1, 3, 5, ...; the weights turn NaN in iteration 5.
    overrides = lazy_overrides(out, 8, checkpoint_period=2)
    result = run_script("train_net.py", ["--config-file", config, *overrides], env)
    assert result.returncode != 0
    assert "Not saving checkpoint 'model_0000005'" in result.stderr
    assert f"The last good checkpoint is {out / 'model_0000003.pth'}" in result.stderr
    assert (out / "last_checkpoint").read_text() == "model_0000003.pth"
    saved = sorted(f for f in os.listdir(out) if f.endswith(".pth"))
    assert saved == ["model_0000001.pth", "model_0000003.pth"]
    assert all(_all_finite(out / f) for f in saved)

    # The cause fixed, as a user would.
    resumed = ["--config-file", config, "--resume", *overrides, "model.at_call=-1"]
    log = check_ok(run_script("train_net.py", resumed, env))
    assert "Starting training from iteration 4" in log
    assert _all_finite(out / "model_final.pth")


@pytest.mark.slow
def test_resume_falls_back_from_a_truncated_newest_checkpoint(tmp_path, env):
    out = tmp_path / "out"
    args = ["--config-file", FCOS, *lazy_overrides(out, 4, checkpoint_period=2)]
    check_ok(run_script("train_net.py", args, env))
    newest = out / (out / "last_checkpoint").read_text()
    assert newest.name == "model_final.pth"
    newest.write_bytes(newest.read_bytes()[:4096])  # e.g. a full disk during the last save

    args = ["--config-file", FCOS, "--resume", *lazy_overrides(out, 6, checkpoint_period=2)]
    log = check_ok(run_script("train_net.py", args, env))
    assert f"Cannot read checkpoint '{newest}'" in log
    assert f"Resumed from '{out / 'model_0000003.pth'}' instead of the newest" in log
    assert "Starting training from iteration 4" in log
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert final["iteration"] == 5
