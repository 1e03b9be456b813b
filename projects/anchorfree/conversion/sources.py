"""
The registry of released-checkpoint kinds (``SOURCES``) and what every conversion shares:
reading the released file, finding its state dict, saving the result for Detectron2, and
checking it against a config's model.
"""

import logging
import pickle
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Sequence, TypeVar

import torch
from torch import Tensor

__all__ = [
    "SOURCES",
    "ConvertedCheckpoint",
    "IncompatibleWeightsError",
    "check_against_model",
    "convert_checkpoint",
    "find_state_dict",
    "read_checkpoint",
    "register_in",
    "register_source",
    "save_converted",
]

logger = logging.getLogger(__name__)


@dataclass
class ConvertedCheckpoint:
    """
    Weights in this project's key layout.

    Attributes:
        model: the state dict, keyed as the ``model`` of ``config``.
        config: the config (path from the repository root) whose model these weights fit;
            its test pipeline and conventions are the source's.
        architecture: what the source checkpoint holds, in words (e.g. "CenterNet DLA-34").
        notes: facts a user should know about the converted weights (logged, saved).
    """

    model: Dict[str, Tensor]
    config: str
    architecture: str
    notes: List[str] = field(default_factory=list)


Converter = Callable[[Mapping[str, Any]], ConvertedCheckpoint]

# source name (the --source of tools/convert_checkpoint.py) -> converter of a loaded checkpoint
SOURCES: Dict[str, Converter] = {}


F = TypeVar("F", bound=Callable)


def register_in(table: Dict[str, F], key: str, what: str) -> Callable[[F], F]:
    """A decorator that enters its function into ``table`` under ``key`` (``what`` names the
    kind of key in the error for a key entered twice)."""

    def register(function: F) -> F:
        if key in table:
            raise ValueError(f"{what} '{key}' registered twice")
        table[key] = function
        return function

    return register


def register_source(name: str) -> Callable[[Converter], Converter]:
    return register_in(SOURCES, name, "checkpoint source")


def convert_checkpoint(source: str, checkpoint: Mapping[str, Any]) -> ConvertedCheckpoint:
    """Convert a loaded released checkpoint (as :func:`read_checkpoint` returns it) of kind
    ``source`` (a key of ``SOURCES``)."""
    if source not in SOURCES:
        raise ValueError(f"unknown checkpoint source '{source}'; known: {', '.join(SOURCES)}")
    converted = SOURCES[source](checkpoint)
    for note in converted.notes:
        logger.info(note)
    return converted


def read_checkpoint(path: str) -> Any:
    """
    Load a released checkpoint on CPU. Tensors-only pickles load with ``weights_only=True``;
    the released files that also pickle other objects (mmdetection's ``meta``, an optimizer's
    state) are loaded in full, with a warning: only do that for files from a source you trust.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        logger.warning(
            f"{path} pickles more than tensors ({str(e).splitlines()[0][:200]}); loading it "
            "in full, which runs its pickled code: only convert files from a source you trust."
        )
        return torch.load(path, map_location="cpu", weights_only=False)


def find_state_dict(
    checkpoint: Any, containers: Sequence[str], *, source: str
) -> Dict[str, Tensor]:
    """The tensors of ``checkpoint``: the dict under the first of ``containers`` it has (e.g.
    ``"state_dict"``, ``"model"``), else ``checkpoint`` itself when it is a flat dict of
    tensors. Raises ``ValueError`` when it is neither."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"a {source} checkpoint is a dict, got {type(checkpoint).__name__}")
    for name in containers:
        if isinstance(checkpoint.get(name), Mapping):
            checkpoint = checkpoint[name]
            break
    tensors = {k: v for k, v in checkpoint.items() if isinstance(v, Tensor)}
    if not tensors or len(tensors) != len(checkpoint):
        others = sorted(str(k) for k, v in checkpoint.items() if not isinstance(v, Tensor))
        raise ValueError(
            f"not a {source} checkpoint: expected a dict of tensors"
            + (f" under one of {list(containers)}" if containers else "")
            + (f"; it holds non-tensor entries {others[:10]}" if others else "")
        )
    return tensors


def save_converted(converted: ConvertedCheckpoint, path: str, *, source: str) -> None:
    """Write ``converted`` as a Detectron2 checkpoint (``train.init_checkpoint=path``)."""
    torch.save(
        {
            "model": converted.model,
            "__author__": f"anchorfree-d2 tools/convert_checkpoint.py --source {source}",
            "config": converted.config,
            "matching_heuristics": False,
        },
        path,
    )


class IncompatibleWeightsError(ValueError):
    """Converted weights that do not fit a model exactly."""


def check_against_model(model: torch.nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """Raise :class:`IncompatibleWeightsError` unless ``state_dict`` has exactly the
    parameters and persistent buffers of ``model``, each with the model's shape. BatchNorm
    counters (``num_batches_tracked``) may be absent: loading fills them."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: {tuple(state_dict[k].shape)} vs the model's {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    problems = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if keys:
            shown = "; ".join(keys[:10]) + (
                f" ... ({len(keys) - 10} more)" if len(keys) > 10 else ""
            )
            problems.append(f"{len(keys)} {what}: {shown}")
    if problems:
        raise IncompatibleWeightsError(
            f"converted weights do not fit this {type(model).__name__}: " + " | ".join(problems)
        )
