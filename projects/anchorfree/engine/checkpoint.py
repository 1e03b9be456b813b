"""
Checkpoints that a long run can rely on.

* :class:`CheckedCheckpointer` never writes non-finite weights (so ``last_checkpoint`` always
  names weights that ``--resume`` can continue from), and on ``--resume`` falls back from an
  unreadable newest checkpoint (truncated by a full disk or a kill) to the newest intact one.
* :func:`refuse_partial_weights` makes loading weights into a model fail when they cover less
  than half of its parameters: another detector's checkpoint, or a wrong file, would otherwise
  give a random model that evaluates to AP 0 without an error.
"""

import logging
import os
from typing import Any, Dict, Iterator, List, Tuple

import torch
from torch import nn

from detectron2.checkpoint import DetectionCheckpointer

__all__ = [
    "CheckedCheckpointer",
    "CheckpointReadError",
    "NonFiniteWeightsError",
    "WeightsMismatchError",
    "refuse_partial_weights",
]

logger = logging.getLogger(__name__)

# Loading weights that leave more than this fraction of a model's parameter elements
# uninitialized is refused by refuse_partial_weights.
MAX_MISSING_FRACTION = 0.5


class CheckpointReadError(RuntimeError):
    """A checkpoint file exists but cannot be read (truncated or not a checkpoint)."""


class NonFiniteWeightsError(FloatingPointError):
    """The weights to save hold NaN or infinite values."""


class WeightsMismatchError(ValueError):
    """A checkpoint covers too little of the model it is loaded into."""


def _floating_tensors(state: Any, prefix: str = "") -> Iterator[Tuple[str, torch.Tensor]]:
    if isinstance(state, torch.Tensor):
        if state.is_floating_point():
            yield prefix, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from _floating_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from _floating_tensors(value, f"{prefix}.{i}")


def non_finite_tensors(state: Any) -> Tuple[List[str], int]:
    """Names of the floating-point tensors in a (nested) state dict that hold NaN or inf, and
    the number of floating-point tensors checked."""
    bad, total = [], 0
    for name, tensor in _floating_tensors(state):
        total += 1
        if not bool(torch.isfinite(tensor).all()):
            bad.append(name)
    return bad, total


class CheckedCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` (same arguments) with the guarantees of the module doc."""

    def save(self, name: str, **kwargs: Any) -> None:
        """Save as Detectron2 does; raises :class:`NonFiniteWeightsError` (writing nothing and
        leaving ``last_checkpoint`` as it is) when the model or a checkpointable (optimizer,
        scheduler) holds non-finite values."""
        state = {"model": self.model.state_dict()}
        state.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        bad, total = non_finite_tensors(state)
        if bad:
            last = self.get_checkpoint_file() if self.has_checkpoint() else None
            raise NonFiniteWeightsError(
                f"Not saving checkpoint '{name}': {len(bad)} of {total} tensors hold NaN or inf "
                f"values (first: {', '.join(bad[:3])}). Training diverged. The last good "
                f"checkpoint is {last or 'none (nothing was saved yet)'}; lower the learning "
                "rate or lengthen the warm-up before resuming."
            )
        super().save(name, **kwargs)

    def load(self, path: str, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        """As Detectron2's, but a failed load leaves the checkpointer able to load again, which
        the fallback in :meth:`resume_or_load` needs: Detectron2 HEAD's ``load`` marks a load as
        under way (``_parsed_url_during_load``, which v0.6 lacks), asserts that no other one is,
        and clears the mark only when the load succeeds."""
        try:
            return super().load(path, *args, **kwargs)
        except Exception:
            if hasattr(self, "_parsed_url_during_load"):
                self._parsed_url_during_load = None
            raise

    def _load_file(self, filename: str) -> Dict[str, Any]:
        try:
            return super()._load_file(filename)
        except Exception as e:  # torch/zip/pickle raise several types for a damaged file
            raise CheckpointReadError(
                f"Cannot read checkpoint '{filename}': {type(e).__name__}: {e}"
            ) from e

    def _resume_candidates(self) -> List[str]:
        newest = self.get_checkpoint_file()
        others = [f for f in self.get_all_checkpoint_files() if f != newest]
        return [newest] + sorted(others, key=os.path.getmtime, reverse=True)

    def resume_or_load(self, path: str, *, resume: bool = True) -> Dict[str, Any]:
        """As Detectron2's; when resuming, a newest checkpoint that is missing or cannot be read
        is skipped, with a warning naming it and the one used, for the newest that can."""
        if not (resume and self.has_checkpoint()):
            return super().resume_or_load(path, resume=resume)
        candidates = self._resume_candidates()
        for candidate in candidates:
            if not os.path.isfile(candidate):
                logger.warning(f"Checkpoint '{candidate}' does not exist: trying an older one.")
                continue
            try:
                checkpoint = self.load(candidate)
            except CheckpointReadError as e:
                logger.warning(f"{e}. Trying an older checkpoint.")
                continue
            if candidate != candidates[0]:
                logger.warning(
                    f"Resumed from '{candidate}' instead of the newest checkpoint "
                    f"'{candidates[0]}', which cannot be read."
                )
            return checkpoint
        raise CheckpointReadError(
            f"--resume: none of the checkpoints in {self.save_dir} can be read "
            f"({', '.join(candidates)})."
        )


def refuse_partial_weights(model: nn.Module) -> nn.Module:
    """
    Make every ``model.load_state_dict`` (Detectron2's checkpointers and ``DefaultPredictor``
    call it with ``strict=False``) raise :class:`WeightsMismatchError` when the weights leave
    the model untrained in a way no prediction survives: more than ``MAX_MISSING_FRACTION`` of
    its parameter elements missing, or every parameter of one of its top-level parts (the head
    of another detector's checkpoint, or of a backbone-only file). Keys with the wrong shape
    count as missing, so a checkpoint with another class count passes (only the class layers
    are missing). Returns ``model``.
    """
    sizes = {name: p.numel() for name, p in model.named_parameters()}
    total = sum(sizes.values())
    parts: Dict[str, List[str]] = {}
    for name in sizes:
        parts.setdefault(name.split(".")[0], []).append(name)

    def check(module: nn.Module, incompatible) -> None:
        missing = {k for k in incompatible.missing_keys if k in sizes}
        missing_size = sum(sizes[k] for k in missing)
        untrained = [part for part, names in parts.items() if missing.issuperset(names)]
        if (total and missing_size > MAX_MISSING_FRACTION * total) or untrained:
            what = f"leave its {', '.join(untrained)} untrained and " if untrained else ""
            raise WeightsMismatchError(
                f"These weights are not weights of this {type(model).__name__}: they "
                f"{what}cover {100 * (1 - missing_size / total):.0f}% of its parameters "
                f"({len(missing)} of {len(sizes)} parameter tensors missing, e.g. "
                f"{', '.join(sorted(missing)[:3])}). Another detector's checkpoint, or a "
                "backbone-only file?"
            )

    model.register_load_state_dict_post_hook(check)
    return model
