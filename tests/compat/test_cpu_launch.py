"""anchorfree.compat.cpu_launch: our GLOO workers only where Detectron2's launch cannot run on the
CPU (v0.6), Detectron2's own launch everywhere else (HEAD, or any run with CUDA). The
multi-process runs themselves are in tests/engine/test_training.py."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from anchorfree.compat import cpu_launch

_WORKER_ON_CPU = """
import anchorfree
from anchorfree.compat.cpu_launch import detectron2_launch_runs_on_cpu
from detectron2.engine.launch import _distributed_worker
from detectron2.utils import comm

def main():
    print("WORKER_RAN", comm.get_world_size(), comm.get_local_size())

print("FEATURE_TEST", detectron2_launch_runs_on_cpu())
try:
    _distributed_worker(0, main, 1, 1, 0, "tcp://127.0.0.1:{port}", ())
except AssertionError as e:
    print("WORKER_REFUSED", e)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _python_without_cuda(cwd, *args: str, timeout: int, unset=()) -> subprocess.CompletedProcess:
    """``python ARGS`` in a subprocess that sees no CUDA, with the variables ``unset`` removed
    from its environment."""
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(CUDA_VISIBLE_DEVICES="", PYTHONWARNINGS="ignore")
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_feature_test_tells_whether_detectron2s_worker_runs_without_cuda(tmp_path):
    """Detectron2's own worker, as its launch starts it, in a process without CUDA: it runs
    (over GLOO) exactly where the feature test says so, and refuses (v0.6) where it does not."""
    proc = _python_without_cuda(
        tmp_path, "-c", textwrap.dedent(_WORKER_ON_CPU.format(port=_free_port())), timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    if "FEATURE_TEST True" in lines:
        assert "WORKER_RAN 1 1" in lines, proc.stdout
    else:
        assert "FEATURE_TEST False" in lines, proc.stdout
        assert any(line.startswith("WORKER_REFUSED") for line in lines), proc.stdout


def _launched_by(monkeypatch, detectron2_runs_on_cpu, num_processes):
    """Who runs the workers of ``launch`` without CUDA: "d2" (Detectron2's launch) or "ours"."""
    calls = []
    monkeypatch.setattr(cpu_launch.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(cpu_launch, "detectron2_launch_runs_on_cpu", lambda: detectron2_runs_on_cpu)
    monkeypatch.setattr(cpu_launch, "detectron2_launch", lambda *a, **k: calls.append("d2"))
    monkeypatch.setattr(cpu_launch.mp, "spawn", lambda *a, **k: calls.append("ours"))
    cpu_launch.launch(print, num_processes, dist_url="tcp://127.0.0.1:1")
    return calls


@pytest.mark.parametrize("detectron2_runs_on_cpu", [True, False])
def test_without_cuda_launch_hands_over_where_detectron2_runs_on_cpu(
    monkeypatch, detectron2_runs_on_cpu
):
    calls = _launched_by(monkeypatch, detectron2_runs_on_cpu, num_processes=2)
    assert calls == (["d2"] if detectron2_runs_on_cpu else ["ours"])


def test_one_process_is_always_detectron2s(monkeypatch):
    assert _launched_by(monkeypatch, detectron2_runs_on_cpu=False, num_processes=1) == ["d2"]


@pytest.mark.parametrize(
    "machine_threads, workers, expected", [(8, 2, 4), (8, 3, 2), (2, 2, 1), (2, 16, 1), (1, 1, 1)]
)
def test_cpu_workers_share_the_machines_threads(monkeypatch, machine_threads, workers, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_launch.torch, "get_num_threads", lambda: machine_threads)
    assert cpu_launch.cpu_threads_per_worker(workers) == expected


def test_omp_num_threads_is_the_users_choice(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_launch.cpu_threads_per_worker(2) is None


_THREADS_OF_WORKERS = """
import os, sys
import torch
from anchorfree.engine import launch
from detectron2.utils import comm

def main(out):
    with open(os.path.join(out, f"rank{comm.get_rank()}"), "w") as f:
        f.write(str(torch.get_num_threads()))

if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[2]))
    launch(main, 2, dist_url="auto", args=(sys.argv[1],))
"""


@pytest.mark.slow
def test_launched_cpu_workers_run_with_their_share_of_threads(tmp_path):
    """Two workers launched on the CPU (without OMP_NUM_THREADS) from a process of 2 x (cores +
    1) threads: cores + 1 threads each, which no worker has by default (torch's default, one
    per core, would oversubscribe the machine twice over)."""
    share = os.cpu_count() + 1
    script = tmp_path / "threads_of_workers.py"
    script.write_text(_THREADS_OF_WORKERS)
    proc = _python_without_cuda(
        tmp_path,
        str(script),
        str(tmp_path),
        str(2 * share),
        timeout=300,
        unset=("OMP_NUM_THREADS",),
    )
    assert proc.returncode == 0, proc.stderr
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == [str(share)] * 2
