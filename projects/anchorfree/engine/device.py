"""Where a model runs: the configured device with a CPU fallback, and CPU arithmetic set up for
training from scratch."""

import logging

import torch

__all__ = ["fallback_device", "flush_denormals_on_cpu"]

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
