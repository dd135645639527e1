"""Rank helpers for code that runs on every rank (torchrun / accelerate / deepspeed launchers)."""

from __future__ import annotations

import os

from sif.runinfo import is_main_process, rank, world_size

__all__ = ["barrier", "is_distributed", "is_main_process", "local_rank", "rank", "world_size"]


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_distributed() -> bool:
    """True once torch.distributed is initialized (the HF Trainer's arguments do that under a launcher)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """Wait for every rank; a no-op in a single process."""
    if is_distributed():
        import torch.distributed as dist

        dist.barrier()
