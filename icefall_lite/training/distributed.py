"""DDP process setup: ``--world-size N`` spawned locally, or ranks given by ``torchrun``.

gloo on CPU, nccl on GPU. Under ``torchrun`` (or any launcher setting ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) the environment decides the ranks.

Example::

    >>> launched_by_torchrun({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    DistInfo(rank=1, world_size=4, local_rank=1)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global rank, number of processes, rank on this machine."""

    rank: int
    world_size: int
    local_rank: int


def launched_by_torchrun(environ: Mapping[str, str] = os.environ) -> DistInfo | None:
    """The ranks from a launcher's environment variables, or ``None`` if there are none."""
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        return None
    rank = int(environ["RANK"])
    return DistInfo(rank, int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", rank)))


def device_for(local_rank: int) -> torch.device:
    """``cuda:<local_rank>`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup_dist(info: DistInfo, master_port: int | None) -> None:
    """Join the process group.

    Args:
      info: this process's ranks.
      master_port: for processes spawned here: the rendezvous port on localhost (nothing is done
        for a single process). ``None`` means a launcher (torchrun) set ``MASTER_ADDR`` and
        ``MASTER_PORT``: join even a group of one.
    """
    if master_port is not None:
        if info.world_size <= 1:
            return
        os.environ.setdefault("MASTER_ADDR", "localhost")
        os.environ["MASTER_PORT"] = str(master_port)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group(backend, rank=info.rank, world_size=info.world_size)


def cleanup_dist() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def any_rank_true(flag: bool, device: torch.device) -> bool:
    """``flag`` OR-ed over all ranks (every rank must call it), so ranks take the same branch."""
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)
