"""check_training_options: each bad override of a training option is refused with the key, the
value and what is expected; every leaf config passes unchanged; absent keys are skipped."""

import glob
import os

import pytest
from omegaconf import OmegaConf

import anchorfree.data  # noqa: F401  (registers the embedded dataset)
from anchorfree.config import check_training_options, load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CONFIG = os.path.join(REPO, "configs", "FCOS", "fcos_narrow_FPN_shapes_demo.py")
# Leaf configs; configs/common (and each detector's common/, models/) hold the pieces they import.
LEAF_CONFIGS = sorted(
    p
    for p in glob.glob(os.path.join(REPO, "configs", "*", "*.py"))
    if os.path.basename(os.path.dirname(p)) != "common"
)

POSITIVE_INT = "an int > 0"
PATH_HINT = "quote a name that reads as a number, e.g. '\"2024\"'"


def _error(overrides, num_processes=1, eval_only=False):
    cfg = load_config(DEMO_CONFIG, overrides)
    with pytest.raises(ValueError) as excinfo:
        check_training_options(cfg, num_processes=num_processes, eval_only=eval_only)
    return str(excinfo.value)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "train.max_iter=abc",
            f"train.max_iter='abc': expected {POSITIVE_INT} (the number of iterations to train).",
        ),
        (
            "train.max_iter=-5",
            f"train.max_iter=-5: expected {POSITIVE_INT} (the number of iterations to train).",
        ),
        (
            "train.max_iter=0",
            f"train.max_iter=0: expected {POSITIVE_INT} (the number of iterations to train).",
        ),
        (
            "train.max_iter=true",
            f"train.max_iter=True: expected {POSITIVE_INT} (the number of iterations to train).",
        ),
        (
            "train.max_iter=1e3",
            f"train.max_iter=1000.0: expected {POSITIVE_INT} (the number of iterations to train).",
        ),
        (
            "train.checkpointer.period=0",
            f"train.checkpointer.period=0: expected {POSITIVE_INT} (save a checkpoint every that "
            "many iterations).",
        ),
        (
            "train.checkpointer.max_to_keep=0",
            f"train.checkpointer.max_to_keep=0: expected {POSITIVE_INT}, or null to keep every "
            "checkpoint (on the command line null, not None).",
        ),
        (
            "train.checkpointer.max_to_keep=None",
            f"train.checkpointer.max_to_keep='None': expected {POSITIVE_INT}, or null to keep "
            "every checkpoint (on the command line null, not None).",
        ),
        (
            "train.eval_period=-1",
            "train.eval_period=-1: expected an int >= 0 (evaluate every that many iterations; 0: "
            "only after the last one).",
        ),
        (
            "train.log_period=0",
            f"train.log_period=0: expected {POSITIVE_INT} (write metrics every that many "
            "iterations).",
        ),
        ("train.amp.enabled=1", "train.amp.enabled=1: expected true or false."),
        ("train.amp.enabled=yes", "train.amp.enabled='yes': expected true or false."),
        (
            "train.seed=1.5",
            "train.seed=1.5: expected an int (negative: a new random seed each run).",
        ),
        (
            "train.seed=4294967296",
            "train.seed=4294967296: expected at most 4294967295 (numpy takes seeds below 2**32, "
            "and each process adds its rank, up to 0).",
        ),
        (
            "train.device=gpu",
            "train.device='gpu': expected a torch device such as 'cuda', 'cuda:0' or 'cpu'.",
        ),
        (
            "train.device=0",
            "train.device=0: expected a torch device such as 'cuda', 'cuda:0' or 'cpu'.",
        ),
        (
            "train.init_checkpoint=null",
            "train.init_checkpoint=None: expected a str: the path or URL of the weights to start "
            f"from, '' for none ({PATH_HINT}).",
        ),
        (
            "train.output_dir=2024",
            f"train.output_dir=2024: expected a str: a directory ({PATH_HINT}).",
        ),
        ("optimizer.lr=abc", "optimizer.lr='abc': expected a finite number > 0."),
        ("optimizer.lr=0", "optimizer.lr=0: expected a finite number > 0."),
        ("optimizer.lr=-1e-3", "optimizer.lr=-0.001: expected a finite number > 0."),
        ("optimizer.lr=nan", "optimizer.lr=nan: expected a finite number > 0."),
        ("optimizer.lr=inf", "optimizer.lr=inf: expected a finite number > 0."),
        ("optimizer.lr=true", "optimizer.lr=True: expected a finite number > 0."),
        ("optimizer.weight_decay=-1", "optimizer.weight_decay=-1: expected a finite number >= 0."),
        (
            "optimizer.weight_decay=abc",
            "optimizer.weight_decay='abc': expected a finite number >= 0.",
        ),
        (
            "dataloader.train.total_batch_size=0",
            f"dataloader.train.total_batch_size=0: expected {POSITIVE_INT} (images per iteration, "
            "over all processes).",
        ),
        (
            "dataloader.train.num_workers=-1",
            "dataloader.train.num_workers=-1: expected an int >= 0 (0: load the data in the "
            "training process).",
        ),
        (
            "dataloader.test.num_workers=two",
            "dataloader.test.num_workers='two': expected an int >= 0 (0: load the data in the "
            "evaluating process).",
        ),
    ],
)
def test_bad_override_names_key_value_and_expectation(override, message):
    assert _error([override]) == message


@pytest.mark.parametrize(
    "override",
    [
        "train.max_iter=1",
        "train.checkpointer.max_to_keep=null",
        "train.eval_period=0",
        "train.seed=-1",
        "train.seed=4294967295",
        "train.device=cuda:1",
        "train.output_dir='\"2024\"'",
        "optimizer.lr=1",
        "optimizer.lr=1e-3",
        "optimizer.weight_decay=0",
        "dataloader.train.num_workers=0",
    ],
)
def test_good_override_passes(override):
    check_training_options(load_config(DEMO_CONFIG, [override]), num_processes=1)


def test_every_bad_option_is_reported_at_once():
    assert _error(["train.max_iter=abc", "train.log_period=0"]) == (
        f"train.max_iter='abc': expected {POSITIVE_INT} (the number of iterations to train).\n"
        f"train.log_period=0: expected {POSITIVE_INT} (write metrics every that many iterations)."
    )


def test_batch_must_split_evenly_over_all_processes():
    # 3 processes (e.g. 3 GPUs on 1 machine) cannot share a batch of 8; 4 can.
    assert _error(["dataloader.train.total_batch_size=8"], num_processes=3) == (
        "dataloader.train.total_batch_size=8: expected a multiple of the 3 processes "
        "(--num-gpus x --num-machines), which each load an equal share of the batch."
    )
    check_training_options(
        load_config(DEMO_CONFIG, ["dataloader.train.total_batch_size=8"]), num_processes=4
    )


def test_eval_only_loads_no_training_batch_to_split():
    check_training_options(load_config(DEMO_CONFIG), num_processes=3, eval_only=True)


def test_seed_leaves_room_for_every_rank():
    assert _error(["train.seed=4294967295"], num_processes=2) == (
        "train.seed=4294967295: expected at most 4294967294 (numpy takes seeds below 2**32, "
        "and each process adds its rank, up to 1)."
    )


def test_absent_keys_are_skipped():
    check_training_options(OmegaConf.create({"train": {"max_iter": 3}}), num_processes=1)


@pytest.mark.parametrize("path", LEAF_CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_every_leaf_config_passes_unchanged(path):
    check_training_options(load_config(path), num_processes=1)
