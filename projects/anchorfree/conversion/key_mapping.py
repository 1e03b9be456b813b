"""
Renaming a released checkpoint's keys into this project's, by an ordered list of rules.

A :class:`Rule` is a regular expression that must match a whole source key, the target key
(an ``re`` replacement template, ``\\1`` for groups, or a function of the match) and
optionally a function applied to the tensor. :func:`rename_keys` applies the first matching
rule to every key. A key that no rule matches is an error naming it (:class:`UnknownKeysError`):
a converter never skips weights silently. Keys that are deliberately not converted (an
ImageNet classifier, an optimizer's bookkeeping) need a rule with ``target=None`` and a
``reason``, which is logged.
"""

import logging
import re
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Union

from torch import Tensor

__all__ = ["BN_SUFFIX", "Rule", "UnknownKeysError", "rename_keys", "resnet_rules", "strip_prefix"]

logger = logging.getLogger(__name__)

# Number of key names quoted in an error message (all of them are counted).
QUOTED_KEYS = 20


class UnknownKeysError(KeyError):
    """Source keys that no conversion rule accounts for, or two keys renamed to the same."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _quote(keys: List[str]) -> str:
    shown = ", ".join(keys[:QUOTED_KEYS])
    return shown + (f" ... ({len(keys) - QUOTED_KEYS} more)" if len(keys) > QUOTED_KEYS else "")


@dataclass(frozen=True)
class Rule:
    """Source keys fully matching ``pattern`` become ``target`` (a replacement template for
    ``pattern``, or a function of the ``re.Match``), their tensors passed through
    ``transform`` when given. ``target=None`` drops them; then ``reason`` says why."""

    pattern: str
    target: Union[str, Callable[[re.Match], str], None]
    transform: Optional[Callable[[Tensor], Tensor]] = None
    reason: str = ""

    def __post_init__(self):
        if self.target is None and not self.reason:
            raise ValueError(f"Rule {self.pattern!r} drops keys without a reason")


def rename_keys(
    state_dict: Mapping[str, Tensor], rules: Iterable[Rule], *, source: str
) -> Dict[str, Tensor]:
    """
    Apply ``rules`` (first match wins) to every key of ``state_dict``.

    Raises :class:`UnknownKeysError` naming the keys no rule matches, or the keys that two
    source keys would both become; ``source`` names the checkpoint kind in messages. The
    dropped keys are logged with their rule's reason.
    """
    compiled = [(re.compile(rule.pattern), rule) for rule in rules]
    converted: Dict[str, Tensor] = {}
    origin: Dict[str, str] = {}
    unknown: List[str] = []
    collisions: List[str] = []
    dropped: Dict[str, List[str]] = {}
    for key, tensor in state_dict.items():
        for regex, rule in compiled:
            match = regex.fullmatch(key)
            if match is None:
                continue
            if rule.target is None:
                dropped.setdefault(rule.reason, []).append(key)
                break
            if callable(rule.target):
                new_key = rule.target(match)
            else:
                new_key = match.expand(rule.target)
            if new_key in converted:
                collisions.append(f"{origin[new_key]} and {key} -> {new_key}")
            converted[new_key] = rule.transform(tensor) if rule.transform else tensor
            origin[new_key] = key
            break
        else:
            unknown.append(key)
    if unknown:
        raise UnknownKeysError(
            f"{len(unknown)} keys of this {source} checkpoint are not part of the layout this "
            f"converter knows: {_quote(unknown)}. Is it a {source} checkpoint of a supported "
            "model?"
        )
    if collisions:
        raise UnknownKeysError(f"{source} conversion maps two keys onto one: {_quote(collisions)}")
    for reason, keys in dropped.items():
        logger.info(f"Not converted ({reason}): {len(keys)} keys, e.g. {_quote(keys[:3])}")
    return converted


def strip_prefix(state_dict: Mapping[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    """``state_dict`` with ``prefix`` removed from every key that starts with it (e.g. the
    ``module.`` that ``DataParallel`` adds)."""
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state_dict.items()}


# The tensors of a BatchNorm, as a regex group (for rules of any network's norms).
BN_SUFFIX = r"(weight|bias|running_mean|running_var|num_batches_tracked)"


def resnet_rules(
    source: str,
    target: str,
    *,
    stem_conv: str = "conv1",
    stem_norm: str = "bn1",
    stage: str = "layer",
    keep_num_batches_tracked: bool = True,
) -> List[Rule]:
    """
    Rules from a torchvision-style ResNet under ``source`` (a regex prefix, e.g.
    ``r"backbone\\."``; stages ``layer1..4``, blocks ``convK``/``bnK``, ``downsample.0/1``) to
    Detectron2's ``ResNet`` under ``target`` (``stem.conv1``, ``res2..res5``, ``convK.norm``,
    ``shortcut``). ``stem_conv``/``stem_norm`` are the stem's names in the source
    (maskrcnn-benchmark: ``stem.conv1``/``stem.bn1``). ``keep_num_batches_tracked=False``
    drops the BatchNorm counters, for targets with frozen BatchNorm (which has none).
    """

    def stage_key(suffix: str) -> Callable[[re.Match], str]:
        # torchvision's layer1 is Detectron2's res2 (named by its stride, 2^2).
        return lambda m: f"{target}res{int(m[1]) + 1}.{m[2]}." + m.expand(suffix)

    s, layer = source, rf"{re.escape(stage)}([1-4])\.(\d+)\."
    rules = []
    if not keep_num_batches_tracked:
        rules.append(
            Rule(s + r".*num_batches_tracked", None, reason="frozen BatchNorm keeps no counter")
        )
    rules += [
        Rule(rf"{s}{re.escape(stem_conv)}\.weight", f"{target}stem.conv1.weight"),
        Rule(rf"{s}{re.escape(stem_norm)}\.{BN_SUFFIX}", rf"{target}stem.conv1.norm.\1"),
        Rule(rf"{s}{layer}conv(\d)\.weight", stage_key(r"conv\3.weight")),
        Rule(rf"{s}{layer}bn(\d)\.{BN_SUFFIX}", stage_key(r"conv\3.norm.\4")),
        Rule(rf"{s}{layer}downsample\.0\.weight", stage_key("shortcut.weight")),
        Rule(rf"{s}{layer}downsample\.1\.{BN_SUFFIX}", stage_key(r"shortcut.norm.\3")),
    ]
    return rules
