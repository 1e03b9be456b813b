"""
Detectron2 v0.6 workaround: multi-process launch without CUDA.

Detectron2 v0.6's ``launch`` asserts CUDA in every worker and always uses NCCL; Detectron2's
GitHub HEAD falls back to GLOO on CPU. :func:`launch` delegates to Detectron2 whenever CUDA is
available (so GPU runs are exactly Detectron2's) or Detectron2's own workers can run on the CPU
(:func:`detectron2_launch_runs_on_cpu`), and otherwise (v0.6 without CUDA) runs the workers
itself over GLOO, one CPU process per requested "GPU". Across machines the ranks, the
machine-local process groups and the ``tcp://HOST:PORT`` rendezvous are Detectron2's (tested
with two machine ranks over loopback). ``anchorfree.engine.launch`` is this function.

On the CPU, whichever launch runs them, the workers of one machine share its cores: each gets
:func:`cpu_threads_per_worker` torch threads. Left at torch's default, every worker would start
one thread per core, and N workers would oversubscribe the machine N times over.
"""

import functools
import inspect
import logging
import os
from datetime import timedelta
from typing import Any, Callable, Optional, Tuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from detectron2.engine import launch as detectron2_launch
from detectron2.engine.launch import DEFAULT_TIMEOUT, _distributed_worker, _find_free_port
from detectron2.utils import comm

logger = logging.getLogger(__name__)

__all__ = ["cpu_threads_per_worker", "detectron2_launch_runs_on_cpu", "launch"]


def detectron2_launch_runs_on_cpu() -> bool:
    """Whether Detectron2's launch workers choose GLOO where there is no CUDA (HEAD does, v0.6
    asserts CUDA). Read from the worker's source, because ``__version__`` is "0.6" at both;
    where it cannot be read, our own CPU workers run."""
    try:
        source = inspect.getsource(_distributed_worker)
    except (OSError, TypeError):
        return False
    return "gloo" in source.lower()


def cpu_threads_per_worker(num_workers_per_machine: int) -> Optional[int]:
    """Torch threads for each of ``num_workers_per_machine`` CPU workers on one machine: this
    process's thread count (torch's default, one per core) divided among them, at least one.
    None where ``OMP_NUM_THREADS`` is set: the user chose the threads of every process."""
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, torch.get_num_threads() // num_workers_per_machine)


def _run_with_threads(threads: Optional[int], main_func: Callable[..., Any], *args) -> Any:
    if threads is not None:
        torch.set_num_threads(threads)
    return main_func(*args)


def launch(
    main_func: Callable[..., Any],
    num_gpus_per_machine: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: Optional[str] = None,
    args: Tuple = (),
    timeout: timedelta = DEFAULT_TIMEOUT,
) -> None:
    """
    Same contract as :func:`detectron2.engine.launch`. Without CUDA, ``num_gpus_per_machine``
    is the number of CPU worker processes per machine, connected over GLOO.
    """
    world_size = num_machines * num_gpus_per_machine
    on_cpu = not torch.cuda.is_available() and world_size > 1
    if on_cpu:
        threads = cpu_threads_per_worker(num_gpus_per_machine)
        main_func = functools.partial(_run_with_threads, threads, main_func)
        logger.info(
            f"No CUDA: {num_gpus_per_machine} CPU worker(s) per machine over GLOO, "
            + (f"{threads} torch thread(s) each." if threads else "OMP_NUM_THREADS threads each.")
        )
    if not on_cpu or detectron2_launch_runs_on_cpu():
        detectron2_launch(
            main_func,
            num_gpus_per_machine,
            num_machines=num_machines,
            machine_rank=machine_rank,
            dist_url=dist_url,
            args=args,
            timeout=timeout,
        )
        return
    if dist_url is None or dist_url == "auto":
        if num_machines != 1:
            raise ValueError("dist_url=auto is only supported on one machine; pass tcp://HOST:PORT")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    mp.spawn(
        _cpu_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout),
        daemon=False,
    )


def _cpu_worker(
    local_rank: int,
    main_func: Callable[..., Any],
    world_size: int,
    num_workers_per_machine: int,
    machine_rank: int,
    dist_url: str,
    args: Tuple,
    timeout: timedelta,
) -> None:
    global_rank = machine_rank * num_workers_per_machine + local_rank
    dist.init_process_group(
        backend="gloo",
        init_method=dist_url,
        world_size=world_size,
        rank=global_rank,
        timeout=timeout,
    )
    # v0.6 keeps the machine-local group in a module global; every rank creates every group.
    for machine in range(world_size // num_workers_per_machine):
        ranks = list(
            range(machine * num_workers_per_machine, (machine + 1) * num_workers_per_machine)
        )
        group = dist.new_group(ranks)
        if machine == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group
    comm.synchronize()
    main_func(*args)
