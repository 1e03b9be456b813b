"""Loss normalizers shared across workers in distributed training."""

import torch
import torch.distributed as dist

from detectron2.utils import comm

__all__ = ["mean_over_workers"]


def mean_over_workers(value: float) -> float:
    """Sum of ``value`` over all workers divided by the number of workers (``value`` itself in
    a single process). Every detector normalizes its losses by a count averaged this way, so
    that each worker's gradient has the same scale whatever its share of the objects."""
    world_size = comm.get_world_size()
    if world_size == 1:
        return float(value)
    tensor = torch.tensor([float(value)], device=_collective_device())
    dist.all_reduce(tensor)
    return tensor.item() / world_size


def _collective_device() -> torch.device:
    """NCCL reduces CUDA tensors only; GLOO (the CPU fallback) reduces CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
