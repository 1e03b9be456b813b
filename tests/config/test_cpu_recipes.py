"""The pieces of the CPU recipes: the cosine schedule and flushing denormals on CPU."""

import os
import runpy

import pytest
import torch

from anchorfree.engine.device import flush_denormals_on_cpu

from detectron2.config import instantiate


def _schedules():
    # configs/ is not a package, and LazyConfig.load keeps no functions: run the file.
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return runpy.run_path(os.path.join(repo, "configs", "common", "schedules.py"))


def test_cosine_schedule_warms_up_then_decays_to_its_final_fraction():
    schedule = instantiate(
        _schedules()["cosine_schedule"](warmup_fraction=0.1, final_fraction=0.01)
    )
    assert schedule(0.0) == pytest.approx(0.001)
    # Linear warm-up from x0.001 to the cosine's value at 10%.
    cosine_at_warmup_end = 0.01 + 0.99 * 0.5 * (1 + torch.cos(torch.tensor(0.1 * torch.pi)))
    assert schedule(0.1) == pytest.approx(float(cosine_at_warmup_end), rel=1e-6)
    assert schedule(0.5) == pytest.approx(0.505)
    assert schedule(0.999) == pytest.approx(0.01, abs=1e-4)
    values = [schedule(i / 1000) for i in range(100, 1000)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_flush_denormals_on_cpu_zeroes_denormals_and_leaves_normals():
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    try:
        # Other tests build CPU models, which turns flushing on: a denormal made then is zero.
        torch.set_flush_denormal(False)
        denormal = torch.tensor([1e-39], dtype=torch.float32)
        assert float(denormal) != 0.0
        flush_denormals_on_cpu("cuda:0")  # not CPU: nothing changes
        assert float(denormal * 1.0) != 0.0
        flush_denormals_on_cpu("cpu")
        assert float(denormal * 1.0) == 0.0
        assert float(torch.tensor([1e-37]) * 1.0) == pytest.approx(1e-37)
    finally:
        torch.set_flush_denormal(False)
