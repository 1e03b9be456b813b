"""The rule that resolves ambiguous assignments in the target generators (FCOS points, CenterNet
center cells): per slot, the smallest box, then the first listed among equal areas."""

from typing import Tuple

import torch
from torch import Tensor

__all__ = ["smallest_then_first"]


def smallest_then_first(
    slots: Tensor, areas: Tensor, order: Tensor, num_slots: int, num_order: int
) -> Tuple[Tensor, Tensor]:
    """
    Candidates ``i`` compete for the slot ``slots[i]`` (a point, a cell); per slot the winner
    is the candidate of smallest ``areas[i]``, then of smallest ``order[i]`` among those.
    Two ``scatter_reduce`` passes, no loop.

    Args:
        slots: ``[P]`` int64 in ``[0, num_slots)``.
        areas: ``[P]`` float.
        order: ``[P]`` int64 in ``[0, num_order)``: the listed position of each candidate's box.
        num_slots: number of slots.
        num_order: one past the largest ``order``: the value of slots without candidates.

    Returns:
        ``(winner, first)``: ``[P]`` bool, the candidates that win their slot; ``[num_slots]``
        int64, the winning ``order`` per slot (``num_order`` where there is none).
    """
    best_area = torch.full((num_slots,), float("inf"), device=areas.device)
    best_area.scatter_reduce_(0, slots, areas, reduce="amin")
    is_best = areas == best_area[slots]
    first = torch.full((num_slots,), num_order, dtype=torch.long, device=areas.device)
    first.scatter_reduce_(0, slots[is_best], order[is_best], reduce="amin")
    return is_best & (order == first[slots]), first
