"""Faults injected into a real detector for the end-to-end fault tests (imported by the configs
those tests write, in the train_net.py subprocess)."""

from typing import Dict, List

import torch
from torch import nn


class WeightsTurnNaN(nn.Module):
    """
    Wraps a detector; at training call ``at_call`` (0-based; -1: never) it adds a loss term
    whose value is 0 but whose gradient is NaN (the square root at 0, as in a careless IoU
    loss): the loss looks finite, and the optimizer step turns the weights NaN - the way a real
    divergence produces non-finite weights before any loss is non-finite.
    """

    def __init__(self, detector: nn.Module, at_call: int):
        super().__init__()
        self.detector = detector
        self.at_call = at_call
        self.calls = 0

    def forward(self, batched_inputs: List[Dict]):
        outputs = self.detector(batched_inputs)
        if self.training:
            if self.calls == self.at_call:
                weights = next(self.detector.parameters())
                outputs["loss_fault"] = torch.sqrt((weights * 0.0).sum())
            self.calls += 1
        return outputs
