"""Running ``train_net.py`` and ``tools/demo.py`` as a user does, in a subprocess, for the
end-to-end tests."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_TRAIN, TINY_VAL = "anchorfree_shapes_tiny_train", "anchorfree_shapes_tiny_val"


def subprocess_env(dataset_cache: str) -> dict:
    """A private dataset cache, one thread per process, and tests/engine importable (for the
    fault-injection modules that test configs import)."""
    python_path = os.pathsep.join(
        [os.path.join(REPO, "tests", "engine"), os.environ.get("PYTHONPATH", "")]
    )
    return dict(
        os.environ,
        ANCHORFREE_DATASETS=dataset_cache,
        OMP_NUM_THREADS="1",
        PYTHONPATH=python_path.rstrip(os.pathsep),
    )


def lazy_overrides(output_dir, max_iter, checkpoint_period=1000, batch_size=2, tiny_data=True):
    """Overrides for a short CPU run: ``max_iter`` iterations, evaluation at the end."""
    overrides = [
        f"train.output_dir={output_dir}",
        f"train.max_iter={max_iter}",
        f"train.eval_period={max_iter}",
        f"train.checkpointer.period={checkpoint_period}",
        "train.log_period=1",
        "train.seed=1",
        f"dataloader.train.total_batch_size={batch_size}",
        "dataloader.train.num_workers=0",
        "dataloader.test.num_workers=0",
    ]
    if tiny_data:
        overrides += [
            f"dataloader.train.dataset.names={TINY_TRAIN}",
            f"dataloader.test.dataset.names={TINY_VAL}",
        ]
    return overrides


def run_script(script, args, env, timeout=300, **kwargs):
    """Run ``script`` (relative to the repository root) with ``args``; returns the
    ``CompletedProcess`` with text output."""
    return subprocess.run(
        [sys.executable, os.path.join(REPO, script), *[str(a) for a in args]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def check_ok(result) -> str:
    """The output of a run that must have succeeded."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout + result.stderr
