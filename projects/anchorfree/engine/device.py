"""Where a model runs: the configured device with a CPU fallback, CPU arithmetic set up for
training from scratch, and the memory format of its convolutions."""

import logging

import torch
from torch import nn

__all__ = ["fallback_device", "flush_denormals_on_cpu", "place_model"]

logger = logging.getLogger(__name__)


def fallback_device(device: str) -> str:
    """``device``, or ``"cpu"`` (with a warning) when it asks for CUDA and CUDA is absent."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        logger.warning(f"Config asks for device '{device}' but CUDA is not available: using CPU.")
        return "cpu"
    return device


def flush_denormals_on_cpu(device: str) -> None:
    """On CPU, have this process flush float32 denormals to zero. Activations and gradients of
    small networks trained from scratch drift into the denormal range, where CPU arithmetic is
    an order of magnitude slower; flushing them changes no result that matters (they are below
    1.2e-38)."""
    if torch.device(device).type == "cpu":
        torch.set_flush_denormal(True)


def place_model(model: nn.Module, device: str, *, channels_last: bool = False) -> nn.Module:
    """``model`` on ``device`` (denormals flushed there if it is the CPU, see
    :func:`flush_denormals_on_cpu`), its 4-D weights in the channels-last memory format when
    ``channels_last``. A convolution given a channels-last weight computes in that format
    whatever its input's, and hands it on to its output: on CPU, oneDNN's convolutions are
    faster in it, and the values are the same up to float rounding. State dicts load across
    formats (``load_state_dict`` copies values, not strides), so checkpoints do not depend on
    it."""
    flush_denormals_on_cpu(device)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model
