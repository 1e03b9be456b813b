"""
Types and ranges of the training options, checked before anything is built.

Overrides are parsed by Hydra's grammar: ``train.max_iter=abc`` sets the string ``'abc'``,
``None`` is the string ``'None'`` (``null`` is None), ``true`` is a bool. Nothing objects until
Detectron2 or torch uses the value: after the model and the data were built (a ``TypeError``),
during training (``train.checkpointer.period=0`` divides by zero at the first step) or never
(``train.max_iter=-5`` trains nothing and exits 0). :func:`check_training_options` refuses such
values at start-up, naming the key, the value and what is expected. Keys absent from a config
are not checked: Detectron2's own configs need not have them all.
"""

import math
from typing import Any, Callable, List, Tuple

import torch
from omegaconf import DictConfig, OmegaConf

__all__ = ["check_training_options"]

# Sentinel for OmegaConf.select, to tell a missing key from a key set to None.
_MISSING = object()

# Detectron2 seeds numpy with train.seed + rank, and numpy takes seeds below 2**32.
_SEED_LIMIT = 2**32


def _is_int(value: Any) -> bool:
    # bool is an int to Python, but train.max_iter=true is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _is_positive_int(value: Any) -> bool:
    return _is_int(value) and value > 0


def _is_non_negative_int(value: Any) -> bool:
    return _is_int(value) and value >= 0


def _is_device(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        torch.device(value)
    except RuntimeError:
        return False
    return True


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


# A value that reads as a number or a bool is parsed as one: quoting keeps it a string.
_QUOTE_HINT = "quote a name that reads as a number, e.g. '\"2024\"'"

# (key, whether a value is valid, what is expected).
_RULES: Tuple[Tuple[str, Callable[[Any], bool], str], ...] = (
    ("train.max_iter", _is_positive_int, "an int > 0 (the number of iterations to train)"),
    (
        "train.checkpointer.period",
        _is_positive_int,
        "an int > 0 (save a checkpoint every that many iterations)",
    ),
    (
        "train.checkpointer.max_to_keep",
        lambda value: value is None or _is_positive_int(value),
        "an int > 0, or null to keep every checkpoint (on the command line null, not None)",
    ),
    (
        "train.eval_period",
        _is_non_negative_int,
        "an int >= 0 (evaluate every that many iterations; 0: only after the last one)",
    ),
    ("train.log_period", _is_positive_int, "an int > 0 (write metrics every that many iterations)"),
    ("train.amp.enabled", lambda value: isinstance(value, bool), "true or false"),
    ("train.channels_last", lambda value: isinstance(value, bool), "true or false"),
    ("train.seed", _is_int, "an int (negative: a new random seed each run)"),
    ("train.device", _is_device, "a torch device such as 'cuda', 'cuda:0' or 'cpu'"),
    (
        "train.init_checkpoint",
        _is_str,
        f"a str: the path or URL of the weights to start from, '' for none ({_QUOTE_HINT})",
    ),
    ("train.output_dir", _is_str, f"a str: a directory ({_QUOTE_HINT})"),
    ("optimizer.lr", lambda value: _is_finite_number(value) and value > 0, "a finite number > 0"),
    (
        "optimizer.weight_decay",
        lambda value: _is_finite_number(value) and value >= 0,
        "a finite number >= 0",
    ),
    (
        "dataloader.train.total_batch_size",
        _is_positive_int,
        "an int > 0 (images per iteration, over all processes)",
    ),
    (
        "dataloader.train.num_workers",
        _is_non_negative_int,
        "an int >= 0 (0: load the data in the training process)",
    ),
    (
        "dataloader.test.num_workers",
        _is_non_negative_int,
        "an int >= 0 (0: load the data in the evaluating process)",
    ),
)


def check_training_options(cfg: DictConfig, *, num_processes: int, eval_only: bool = False) -> None:
    """
    Raise ``ValueError`` if a training option of ``cfg`` has a wrong type or range; the message
    has one line ``key=value: expected ...`` per bad option.

    ``num_processes`` is the run's process count over all machines (``--num-gpus`` times
    ``--num-machines``): each process loads an equal share of
    ``dataloader.train.total_batch_size``, and seeds with ``train.seed`` plus its rank. With
    ``eval_only`` no training batch is loaded, so its share is not checked.
    """
    problems: List[str] = []
    for key, is_valid, expected in _RULES:
        value = OmegaConf.select(cfg, key, default=_MISSING)
        if value is not _MISSING and not is_valid(value):
            problems.append(f"{key}={value!r}: expected {expected}.")

    seed = OmegaConf.select(cfg, "train.seed", default=None)
    if _is_int(seed) and seed + num_processes > _SEED_LIMIT:
        problems.append(
            f"train.seed={seed}: expected at most {_SEED_LIMIT - num_processes} (numpy takes "
            f"seeds below 2**32, and each process adds its rank, up to {num_processes - 1})."
        )

    batch_size = OmegaConf.select(cfg, "dataloader.train.total_batch_size", default=None)
    if not eval_only and _is_positive_int(batch_size) and batch_size % num_processes:
        problems.append(
            f"dataloader.train.total_batch_size={batch_size}: expected a multiple of the "
            f"{num_processes} processes (--num-gpus x --num-machines), which each load an "
            "equal share of the batch."
        )
    if problems:
        raise ValueError("\n".join(problems))
