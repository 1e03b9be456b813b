"""train_net.py end to end on CPU: LazyConfigs of ours and of Detectron2's baselines, a .yaml
refused with a clear message, eval-only, resume after a real kill, and training over GLOO with 2
processes on one machine and with 2 "machines" on this host."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from train_net_testing import (
    REPO,
    check_ok,
    lazy_overrides,
    run_script,
    subprocess_env,
)

LAZY_CONFIG = os.path.join(REPO, "configs", "baselines", "fcos_R_18_FPN_shapes.py")
RETINANET_CONFIG = os.path.join(REPO, "configs", "baselines", "retinanet_R_18_FPN_shapes.py")


def run_train_net(args, env, timeout=300, **kwargs):
    return run_script("train_net.py", args, env, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return subprocess_env(str(tmp_path_factory.mktemp("datasets")))


@pytest.mark.slow
def test_lazy_config_trains_evaluates_and_evaluates_again(tmp_path, env):
    out = tmp_path / "lazy"
    log = check_ok(run_train_net(["--config-file", LAZY_CONFIG, *lazy_overrides(out, 3)], env))
    assert (out / "model_final.pth").is_file()
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in log
    assert (out / "metrics.json").is_file() and (out / "last_checkpoint").is_file()
    log = check_ok(
        run_train_net(
            [
                "--config-file",
                LAZY_CONFIG,
                "--eval-only",
                *lazy_overrides(out, 3),
                f"train.init_checkpoint={out / 'model_final.pth'}",
            ],
            env,
        )
    )
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in log


@pytest.mark.slow
def test_retinanet_baseline_trains(tmp_path, env):
    out = tmp_path / "retinanet"
    log = check_ok(run_train_net(["--config-file", RETINANET_CONFIG, *lazy_overrides(out, 2)], env))
    assert (out / "model_final.pth").is_file()
    assert "copypaste: AP,AP50,AP75,APs,APm,APl" in log


def test_yaml_config_is_refused_with_the_py_to_use(env):
    yaml = os.path.join(REPO, "configs", "baselines", "retinanet_R_18_FPN_shapes.yaml")
    result = run_train_net(["--config-file", yaml], env, timeout=120)
    assert result.returncode != 0
    assert "yacs configs were removed" in result.stderr
    assert "retinanet_R_18_FPN_shapes.py" in result.stderr


def test_eval_only_without_weights_is_refused(tmp_path, env):
    result = run_train_net(
        ["--config-file", LAZY_CONFIG, "--eval-only", *lazy_overrides(tmp_path, 1)], env
    )
    assert result.returncode != 0
    assert "--eval-only needs trained weights" in result.stderr


def test_unknown_override_fails_before_training(tmp_path, env):
    result = run_train_net(["--config-file", LAZY_CONFIG, "train.max_iters=3"], env)
    assert result.returncode != 0 and "Did you mean: train.max_iter" in result.stderr


def test_bad_option_value_fails_before_anything_is_built(tmp_path, env):
    out = tmp_path / "never_written"
    overrides = [*lazy_overrides(out, 3), "train.max_iter=abc"]
    start = time.monotonic()
    result = run_train_net(["--config-file", LAZY_CONFIG, *overrides], env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "train_net.py: train.max_iter='abc': expected an int > 0 (the number of iterations to "
        "train)."
    )
    # No worker ran: default_setup would have made the output directory, training logs "Model:".
    assert not out.exists()
    assert "Model:" not in result.stdout + result.stderr
    assert time.monotonic() - start < 60


def _wait_for(path, process, timeout):
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, "training ended before writing " + str(path)
        assert time.time() < deadline, f"timed out waiting for {path}"
        time.sleep(0.2)


@pytest.mark.slow
def test_resume_after_kill_continues_iteration_optimizer_and_schedule(tmp_path, env):
    out = tmp_path / "resume"
    args = ["--config-file", LAZY_CONFIG, *lazy_overrides(out, 40, checkpoint_period=3)]
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "train_net.py"), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(out / "model_0000005.pth", process, timeout=240)
        time.sleep(1.0)  # let the checkpoint file be completely written and recorded
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    last = (out / "last_checkpoint").read_text().strip()
    killed_at = torch.load(out / last, map_location="cpu", weights_only=False)
    assert not (out / "model_final.pth").exists()

    # Resume with a shorter run so that the test ends soon after the checkpoint.
    resume_args = [
        "--config-file",
        LAZY_CONFIG,
        "--resume",
        *lazy_overrides(out, killed_at["iteration"] + 3, checkpoint_period=3),
    ]
    log = check_ok(run_train_net(resume_args, env))
    assert f"Starting training from iteration {killed_at['iteration'] + 1}" in log
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert final["iteration"] == killed_at["iteration"] + 2
    # The optimizer state travelled: momentum buffers exist for every parameter.
    assert len(final["optimizer"]["state"]) == len(killed_at["optimizer"]["state"]) > 0


@pytest.mark.slow
def test_two_cpu_processes_train_with_identical_weights(tmp_path, env):
    out = tmp_path / "ddp"
    out.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tests", "engine", "ddp_train_worker.py"),
            "--num-processes",
            "2",
            "--config-file",
            LAZY_CONFIG,
            "--output-dir",
            str(out),
            *lazy_overrides(out, 3),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    check_ok(result)
    weights = [torch.load(out / f"rank{r}.pth", map_location="cpu") for r in range(2)]
    saved = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)["model"]
    assert weights[0].keys() == weights[1].keys() == saved.keys()
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), f"ranks disagree on {name}"
        assert torch.equal(value, saved[name]), f"model_final.pth differs on {name}"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_several_machines_need_machine_0s_address(env):
    result = run_train_net(
        ["--config-file", LAZY_CONFIG, "--num-machines", "2", "--machine-rank", "1"], env
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "train_net.py: --num-machines 2 needs --dist-url tcp://HOST:PORT, the same on every "
        "machine: HOST is machine 0's address as all machines reach it, PORT a free port there."
    )


def _run_two_machines(tmp_path, env, max_iter, resume=False):
    """Two machine ranks of one process each, as Detectron2's launcher runs them on a cluster,
    each with its own output directory; each is its own session, so that a timeout kills it
    with the worker it spawned. Returns ``[(output_dir, console_text, returncode)]``."""
    dist_url = f"tcp://127.0.0.1:{_free_port()}"
    machines = []
    for rank in range(2):
        out = tmp_path / f"machine{rank}"
        out.mkdir(exist_ok=True)
        log = open(out / "console.log", "w")
        command = [
            sys.executable,
            os.path.join(REPO, "tests", "engine", "ddp_train_worker.py"),
            "--num-processes",
            "1",
            "--num-machines",
            "2",
            "--machine-rank",
            str(rank),
            "--dist-url",
            dist_url,
            "--config-file",
            LAZY_CONFIG,
            "--output-dir",
            str(out),
            *(["--resume"] if resume else []),
            *lazy_overrides(out, max_iter, checkpoint_period=2),
        ]
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        machines.append((out, log, process))
    deadline = time.monotonic() + 400
    try:
        for out, _, process in machines:
            process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        for _, log, process in machines:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()
    return [(out, (out / "console.log").read_text(), p.returncode) for out, _, p in machines]


@pytest.mark.slow
def test_two_machines_over_loopback_train_with_identical_weights(tmp_path, env):
    machines = _run_two_machines(tmp_path, env, max_iter=3)
    for rank, (_, console, returncode) in enumerate(machines):
        assert returncode == 0, f"machine {rank}:\n{console[-5000:]}"

    (machine0, _, _), (machine1, _, _) = machines
    weights = [
        torch.load(machine0 / "rank0.pth", map_location="cpu"),
        torch.load(machine1 / "rank1.pth", map_location="cpu"),
    ]
    saved = torch.load(machine0 / "model_final.pth", map_location="cpu", weights_only=False)
    assert weights[0].keys() == weights[1].keys() == saved["model"].keys()
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), f"machines disagree on {name}"
        assert torch.equal(value, saved["model"][name]), f"model_final.pth differs on {name}"
    # Only the global rank 0 writes checkpoints: the periodic one, the final one, the record.
    assert sorted(p.name for p in machine0.glob("*checkpoint*")) == ["last_checkpoint"]
    assert sorted(p.name for p in machine0.glob("model_*.pth")) == [
        "model_0000001.pth",
        "model_final.pth",
    ]
    assert not list(machine1.glob("*checkpoint*")) and not list(machine1.glob("model_*.pth"))

    # Resuming without shared storage: machine 1 has no checkpoint of its own. Both stop with
    # the reason, instead of starting apart and waiting for each other until the timeout.
    for rank, (_, console, returncode) in enumerate(
        _run_two_machines(tmp_path, env, max_iter=5, resume=True)
    ):
        assert returncode != 0, f"machine {rank}:\n{console[-3000:]}"
        assert "would start at different iterations ([3, 0], by rank)" in console
        assert "put train.output_dir on storage that all of them share" in console
